package forward_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/identity/forward"
)

func TestProbeReplies(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string // empty when the probe passes
	}{
		{name: "401", status: http.StatusUnauthorized},
		{name: "403", status: http.StatusForbidden},
		{name: "404", status: http.StatusNotFound},
		{name: "400", status: http.StatusBadRequest},
		{name: "200 with user", status: http.StatusOK, body: `{"user":"alice"}`, wantErr: "status 200 to a request without credentials"},
		{name: "204", status: http.StatusNoContent, wantErr: "status 204 to a request without credentials"},
		{name: "redirect", status: http.StatusFound, wantErr: "redirected with status 302"},
		{name: "500", status: http.StatusInternalServerError, wantErr: "returned status 500"},
		{name: "503", status: http.StatusServiceUnavailable, wantErr: "returned status 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if r.Method != http.MethodPost {
					t.Errorf("got method %s, want POST", r.Method)
				}
				for _, name := range []string{"Cookie", "Authorization"} {
					if value := r.Header.Get(name); value != "" {
						t.Errorf("got %s header %q, want none", name, value)
					}
				}
				if got := r.Header.Get("Accept"); got != "application/json" {
					t.Errorf("got Accept %q, want application/json", got)
				}
				if tt.status == http.StatusFound {
					w.Header().Set("Location", "/login")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			a := newAuthenticator(t, forward.Config{URL: site.URL, Method: "POST"})

			status, err := a.Probe(context.Background())
			if status != tt.status {
				t.Errorf("got status %d, want %d", status, tt.status)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("got no error, want one mentioning %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("got error %q, want it to mention %q", err, tt.wantErr)
			}
			if got := requests.Load(); got != 1 {
				t.Errorf("got %d requests at the endpoint, want 1", got)
			}
		})
	}
}

func TestProbeTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL, Timeout: timeout})

	start := time.Now()
	_, err := a.Probe(context.Background())
	elapsed := time.Since(start)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("got return after %s, want about %s", elapsed, timeout)
	}
}

func TestProbeEndpointDown(t *testing.T) {
	site := httptest.NewServer(http.NotFoundHandler())
	url := site.URL + "/session?key=s3cret"
	site.Close()
	a := newAuthenticator(t, forward.Config{URL: url})

	status, err := a.Probe(context.Background())
	if err == nil {
		t.Fatalf("got status %d and no error, want an error", status)
	}
	if !strings.Contains(err.Error(), "request to") {
		t.Errorf("got error %q, want a failed request", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got error %q, want one without the URL's query", err)
	}
}
