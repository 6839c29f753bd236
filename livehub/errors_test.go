package livehub_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/c2cauth/c2cauth/livehub"
)

// classes is the result of every predicate for one error.
type classes struct {
	invalid, unauthorized, notFound, rateLimited, unavailable bool
}

func classify(err error) classes {
	return classes{
		invalid:      livehub.IsInvalidRequest(err),
		unauthorized: livehub.IsUnauthorized(err),
		notFound:     livehub.IsSIPConnectionNotFound(err),
		rateLimited:  livehub.IsRateLimited(err),
		unavailable:  livehub.IsUnavailable(err),
	}
}

func TestErrorMapping(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name           string
		endpoint       string // livehub.OpToken or livehub.OpGenerate
		status         int
		header         map[string]string
		body           string
		want           classes
		wantCode       string
		wantDesc       string
		wantRetryAfter time.Duration
	}{
		{
			name: "generate 400", endpoint: livehub.OpGenerate, status: 400,
			body: `{"error":"invalid_request","message":"callerPhone must be E.164"}`,
			want: classes{invalid: true}, wantCode: "invalid_request", wantDesc: "callerPhone must be E.164",
		},
		{
			name: "generate 404", endpoint: livehub.OpGenerate, status: 404,
			body: `{"message":"SIP connection not found"}`,
			want: classes{notFound: true}, wantDesc: "SIP connection not found",
		},
		{
			name: "generate 429 seconds", endpoint: livehub.OpGenerate, status: 429,
			header: map[string]string{"Retry-After": "30"},
			want:   classes{rateLimited: true, unavailable: true}, wantRetryAfter: 30 * time.Second,
		},
		{
			name: "generate 429 date", endpoint: livehub.OpGenerate, status: 429,
			header: map[string]string{"Retry-After": clock.Now().Add(2 * time.Minute).Format(http.TimeFormat)},
			want:   classes{rateLimited: true, unavailable: true}, wantRetryAfter: 2 * time.Minute,
		},
		{
			name: "generate 503", endpoint: livehub.OpGenerate, status: 503,
			header: map[string]string{"Retry-After": "5"},
			body:   `{"error":{"code":"maintenance","message":"back soon"}}`,
			want:   classes{unavailable: true}, wantCode: "maintenance", wantDesc: "back soon", wantRetryAfter: 5 * time.Second,
		},
		{
			name: "generate 500 text", endpoint: livehub.OpGenerate, status: 500,
			body: "internal error",
			want: classes{unavailable: true},
		},
		{
			name: "generate 403", endpoint: livehub.OpGenerate, status: 403,
			body: `{"error":"forbidden"}`,
			want: classes{}, wantCode: "forbidden",
		},
		{
			name: "token 401 invalid_client", endpoint: livehub.OpToken, status: 401,
			body: `{"error":"invalid_client","error_description":"client authentication failed"}`,
			want: classes{unauthorized: true}, wantCode: "invalid_client", wantDesc: "client authentication failed",
		},
		{
			name: "token 400 invalid_client", endpoint: livehub.OpToken, status: 400,
			body: `{"error":"invalid_client"}`,
			want: classes{unauthorized: true}, wantCode: "invalid_client",
		},
		{
			name: "token 400 invalid_scope", endpoint: livehub.OpToken, status: 400,
			body: `{"error":"invalid_scope"}`,
			want: classes{}, wantCode: "invalid_scope",
		},
		{
			name: "token 404", endpoint: livehub.OpToken, status: 404,
			body: `{"message":"no such path"}`,
			want: classes{}, wantDesc: "no such path",
		},
		{
			name: "token 429", endpoint: livehub.OpToken, status: 429,
			header: map[string]string{"Retry-After": "7"},
			want:   classes{rateLimited: true, unavailable: true}, wantRetryAfter: 7 * time.Second,
		},
		{
			name: "token 502", endpoint: livehub.OpToken, status: 502,
			body: "bad gateway",
			want: classes{unavailable: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fakeOptions{}
			hook := respond(tt.status, tt.header, tt.body)
			if tt.endpoint == livehub.OpToken {
				opts.tokenHook = hook
			} else {
				opts.generateHook = hook
			}
			f := newFakeLiveHub(t, clock, opts)
			c := f.client()

			_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
			var e *livehub.Error
			if !errors.As(err, &e) {
				t.Fatalf("got error %v (%T), want *livehub.Error", err, err)
			}
			if e.Op != tt.endpoint {
				t.Errorf("got Op %q, want %q", e.Op, tt.endpoint)
			}
			if e.StatusCode != tt.status {
				t.Errorf("got StatusCode %d, want %d", e.StatusCode, tt.status)
			}
			if e.Code != tt.wantCode {
				t.Errorf("got Code %q, want %q", e.Code, tt.wantCode)
			}
			if e.Description != tt.wantDesc {
				t.Errorf("got Description %q, want %q", e.Description, tt.wantDesc)
			}
			if e.RetryAfter != tt.wantRetryAfter {
				t.Errorf("got RetryAfter %v, want %v", e.RetryAfter, tt.wantRetryAfter)
			}
			if string(e.Body) != tt.body {
				t.Errorf("got Body %q, want %q", e.Body, tt.body)
			}
			if got := classify(err); got != tt.want {
				t.Errorf("got predicates %+v, want %+v", got, tt.want)
			}
			if got := classify(fmt.Errorf("wrapped: %w", err)); got != tt.want {
				t.Errorf("wrapped: got predicates %+v, want %+v", got, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(tt.status)) {
				t.Errorf("got message %q, want it to contain the status %d", msg, tt.status)
			}
		})
	}
}

func TestPredicatesOnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("boom"), livehub.ErrInvalidResponse} {
		if got := classify(err); got != (classes{}) {
			t.Errorf("%v: got predicates %+v, want all false", err, got)
		}
	}
}

func TestErrorBodyCapped(t *testing.T) {
	body := `{"message":"` + strings.Repeat("x", 10<<10) + `"}`
	for _, endpoint := range []string{livehub.OpToken, livehub.OpGenerate} {
		t.Run(endpoint, func(t *testing.T) {
			opts := fakeOptions{}
			if endpoint == livehub.OpToken {
				opts.tokenHook = respond(http.StatusBadRequest, nil, body)
			} else {
				opts.generateHook = respond(http.StatusBadRequest, nil, body)
			}
			f := newFakeLiveHub(t, newFakeClock(), opts)
			c := f.client()

			_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
			var e *livehub.Error
			if !errors.As(err, &e) {
				t.Fatalf("got error %v, want *livehub.Error", err)
			}
			if len(e.Body) != 4096 {
				t.Errorf("got Body of %d bytes, want 4096", len(e.Body))
			}
			if !bytes.HasPrefix([]byte(body), e.Body) {
				t.Error("got Body that is not the start of the response body")
			}
		})
	}
}

func TestErrorHidesSecrets(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		body := `{"error":"invalid_client","error_description":"secret ` + testClientSecret + ` is wrong"}`
		f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
			tokenHook: respond(http.StatusUnauthorized, nil, body),
		})
		c := f.client()

		_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
		if !livehub.IsUnauthorized(err) {
			t.Fatalf("got error %v, want IsUnauthorized", err)
		}
		checkNoSecret(t, err, testClientSecret)
	})

	t.Run("generate", func(t *testing.T) {
		echoToken := func(_ int, w http.ResponseWriter, r *http.Request) bool {
			token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			writeJSON(w, http.StatusBadRequest, `{"error":"bad","message":"token `+token+` rejected"}`)
			return true
		}
		f := newFakeLiveHub(t, newFakeClock(), fakeOptions{generateHook: echoToken})
		c := f.client()

		_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
		if !livehub.IsInvalidRequest(err) {
			t.Fatalf("got error %v, want IsInvalidRequest", err)
		}
		token := f.lastBearer()
		if token == "" {
			t.Fatal("fake recorded no bearer token")
		}
		checkNoSecret(t, err, token)
		checkNoSecret(t, err, testClientSecret)
	})
}

func checkNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	var e *livehub.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want *livehub.Error", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("Error() = %q contains the secret %q", err.Error(), secret)
	}
	if strings.Contains(e.Description, secret) {
		t.Errorf("Description %q contains the secret %q", e.Description, secret)
	}
	if bytes.Contains(e.Body, []byte(secret)) {
		t.Errorf("Body %q contains the secret %q", e.Body, secret)
	}
}

func TestRedactBodyCutSecret(t *testing.T) {
	const secret = "0123456789abcdef"
	tests := []struct {
		name  string
		body  string
		limit int
		want  string
	}{
		{name: "whole", body: "a " + secret + " b", limit: 100, want: "a [redacted] b"},
		{name: "marker cut by limit", body: "abc" + secret, limit: 10, want: "abc[redact"},
		{name: "secret cut by read", body: "abc" + secret + "xyz" + secret[:6], limit: 25, want: "abc[redacted]xyz"},
		{name: "short", body: "abc", limit: 2, want: "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(livehub.RedactBody([]byte(tt.body), []string{secret}, tt.limit)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := newFakeClock().Now()
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{" 120 ", 2 * time.Minute},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999999", time.Duration(1<<63-1) / time.Second * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if got := livehub.ParseRetryAfter(tt.value, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseErrorBody(f *testing.F) {
	for _, seed := range []string{
		`{"error":"invalid_client","error_description":"bad"}`,
		`{"message":"not found"}`,
		`{"error":{"code":"x","message":"y"}}`,
		`{"error":42}`,
		`[]`,
		`null`,
		"\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, description := livehub.ParseErrorBody(body)
		if !utf8.ValidString(code) || !utf8.ValidString(description) {
			t.Errorf("got invalid UTF-8 code %q or description %q", code, description)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, seed := range []string{"120", "0", "-1", "Sat, 01 Mar 2025 12:02:00 GMT", "x"} {
		f.Add(seed)
	}
	now := newFakeClock().Now()
	f.Fuzz(func(t *testing.T, value string) {
		if got := livehub.ParseRetryAfter(value, now); got < 0 {
			t.Errorf("ParseRetryAfter(%q) = %v, want at least 0", value, got)
		}
	})
}
