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
		{name: "200 with user", status: http.StatusOK, body: `{"user":"alice"}`, wantErr: "responded with 200 OK to a request without credentials, but it must respond with 401 or 403"},
		{name: "204", status: http.StatusNoContent, wantErr: "responded with 204 No Content to a request without credentials, but it must respond with 401 or 403"},
		{name: "redirect", status: http.StatusFound, wantErr: "responded with 302 Found to a request without credentials, but redirects are not followed"},
		{name: "500", status: http.StatusInternalServerError, wantErr: "responded with 500 Internal Server Error to a request without credentials"},
		{name: "503", status: http.StatusServiceUnavailable, wantErr: "responded with 503 Service Unavailable to a request without credentials"},
		{name: "unknown status", status: 599, wantErr: "responded with 599 to a request without credentials"},
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
			a := newAuthenticator(t, forward.Config{URL: site.URL + "/session?key=s3cret", Method: "POST"})

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
			case tt.wantErr != "" && !strings.HasPrefix(err.Error(), "the sign-in endpoint "+site.URL+"/session responded with "):
				t.Errorf("got error %q, want it to name the endpoint without its query", err)
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
	if want := "the sign-in endpoint " + site.URL + " did not respond within 200ms"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got error %v, want one starting with %q", err, want)
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
	if want := "the request to the sign-in endpoint " + strings.TrimSuffix(url, "?key=s3cret") + " failed: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got error %q, want it to start with %q", err, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got error %q, want one without the URL's query", err)
	}
}
