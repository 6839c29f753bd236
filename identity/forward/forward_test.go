package forward_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/forward"
	"github.com/c2cauth/c2cauth/identity/identitytest"
	"github.com/c2cauth/c2cauth/requestid"
)

// outcome is the kind of result Authenticate gives.
type outcome = identitytest.Outcome

const (
	signedIn        = identitytest.SignedIn
	unauthenticated = identitytest.Unauthenticated
	failed          = identitytest.Failed
)

var classify = identitytest.Classify

// newSite starts a stand-in for the site's sign-in endpoint on loopback.
func newSite(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	site := httptest.NewServer(handler)
	t.Cleanup(site.Close)
	return site
}

func newAuthenticator(t *testing.T, cfg forward.Config) *forward.Authenticator {
	t.Helper()
	a, err := forward.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// visitorRequest is a request as the auth-code endpoint receives it.
func visitorRequest() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", strings.NewReader("{}"))
	r.Header.Set("Cookie", "session=abc123")
	return r
}

func TestAuthenticateReplies(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		defaultRegion string
		want          identity.Identity
		wantOutcome   outcome
	}{
		{name: "user and phone", status: 200, body: `{"user":"alice","phone":"+14155550100"}`, want: identity.Identity{UserID: "alice", Phone: "+14155550100"}},
		{name: "formatted phone", status: 200, body: `{"user":"alice","phone":"+1 (415) 555-0100"}`, want: identity.Identity{UserID: "alice", Phone: "+14155550100"}},
		{name: "national phone with region", status: 200, body: `{"user":"bob","phone":"020 7946 0018"}`, defaultRegion: "GB", want: identity.Identity{UserID: "bob", Phone: "+442079460018"}},
		{name: "user only", status: 200, body: `{"user":"alice"}`, want: identity.Identity{UserID: "alice"}},
		{name: "null phone", status: 200, body: `{"user":"alice","phone":null}`, want: identity.Identity{UserID: "alice"}},
		{name: "empty phone", status: 200, body: `{"user":"alice","phone":""}`, want: identity.Identity{UserID: "alice"}},
		{name: "other 2xx", status: 202, body: `{"user":"alice","extra":{"a":[1,2]}}`, want: identity.Identity{UserID: "alice"}},
		{name: "401", status: 401, body: `{"user":"alice"}`, wantOutcome: unauthenticated},
		{name: "403", status: 403, body: ``, wantOutcome: unauthenticated},
		{name: "500", status: 500, body: `{"user":"alice"}`, wantOutcome: failed},
		{name: "404", status: 404, body: ``, wantOutcome: failed},
		{name: "204 without body", status: 204, body: ``, wantOutcome: failed},
		{name: "malformed JSON", status: 200, body: `{"user":"alice"`, wantOutcome: failed},
		{name: "JSON array", status: 200, body: `["alice"]`, wantOutcome: failed},
		{name: "JSON null", status: 200, body: `null`, wantOutcome: failed},
		{name: "missing user", status: 200, body: `{"phone":"+14155550100"}`, wantOutcome: failed},
		{name: "empty user", status: 200, body: `{"user":""}`, wantOutcome: failed},
		{name: "numeric user", status: 200, body: `{"user":42}`, wantOutcome: failed},
		{name: "user with newline", status: 200, body: `{"user":"alice\nadmin"}`, wantOutcome: failed},
		{name: "user too long", status: 200, body: `{"user":"` + strings.Repeat("a", 257) + `"}`, wantOutcome: failed},
		{name: "invalid phone", status: 200, body: `{"user":"alice","phone":"12"}`, wantOutcome: failed},
		{name: "national phone without region", status: 200, body: `{"user":"alice","phone":"020 7946 0018"}`, wantOutcome: failed},
		{name: "numeric phone", status: 200, body: `{"user":"alice","phone":14155550100}`, wantOutcome: failed},
		{name: "huge body", status: 200, body: `{"user":"alice","pad":"` + strings.Repeat("x", forward.MaxReplyBytes) + `"}`, wantOutcome: failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			a := newAuthenticator(t, forward.Config{URL: site.URL, DefaultRegion: tt.defaultRegion})

			got, err := a.Authenticate(visitorRequest())
			if o := classify(err); o != tt.wantOutcome {
				t.Fatalf("got %v (error %v), want %v", o, err, tt.wantOutcome)
			}
			if got != tt.want {
				t.Errorf("got identity %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAuthenticateForwardsOnlyCredentials(t *testing.T) {
	received := make(chan http.Header, 1)
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		received <- r.Header.Clone()
		io.WriteString(w, `{"user":"alice"}`)
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL})

	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.Header.Add("Cookie", "session=abc123")
	r.Header.Add("Cookie", "theme=dark")
	r.Header.Set("Authorization", "Bearer visitor-token")
	r.Header.Set("X-Evil", "1")
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("X-Forwarded-User", "admin")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "https://www.example.com")
	r.Header.Set("X-Request-ID", "req-42")
	if _, err := a.Authenticate(r); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	header := <-received

	if got, want := strings.Join(header.Values("Cookie"), "; "), "session=abc123; theme=dark"; got != want {
		t.Errorf("got Cookie %q, want %q", got, want)
	}
	if got, want := header.Get("Authorization"), "Bearer visitor-token"; got != want {
		t.Errorf("got Authorization %q, want %q", got, want)
	}
	if got, want := header.Get("Accept"), "application/json"; got != want {
		t.Errorf("got Accept %q, want %q", got, want)
	}
	if got, want := header.Get("X-Request-ID"), "req-42"; got != want {
		t.Errorf("got X-Request-ID %q, want %q", got, want)
	}
	for _, name := range []string{"X-Evil", "X-Forwarded-For", "X-Forwarded-User", "Content-Type", "Origin"} {
		if got := header.Values(name); len(got) != 0 {
			t.Errorf("got %s %q at the endpoint, want none", name, got)
		}
	}
}

func TestAuthenticateRequestID(t *testing.T) {
	tests := []struct {
		name    string
		context string
		header  string
		want    string
	}{
		{name: "from middleware", context: "ctx-id", header: "header-id", want: "ctx-id"},
		{name: "from header", header: "header-id", want: "header-id"},
		{name: "header with space", header: "a b", want: ""},
		{name: "header too long", header: strings.Repeat("a", 129), want: ""},
		{name: "none", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			received := make(chan string, 1)
			site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
				received <- r.Header.Get("X-Request-ID")
				io.WriteString(w, `{"user":"alice"}`)
			})
			a := newAuthenticator(t, forward.Config{URL: site.URL})

			r := visitorRequest()
			if tt.context != "" {
				r = r.WithContext(requestid.NewContext(r.Context(), tt.context))
			}
			if tt.header != "" {
				r.Header.Set("X-Request-ID", tt.header)
			}
			if _, err := a.Authenticate(r); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got := <-received; got != tt.want {
				t.Errorf("got X-Request-ID %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAuthenticateWithoutCredentialsSendsNothing(t *testing.T) {
	var calls atomic.Int32
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, `{"user":"alice"}`)
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL})

	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.Header.Set("X-Auth-Request-User", "alice")
	_, err := a.Authenticate(r)
	if !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("got error %v, want ErrUnauthenticated", err)
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("got %d requests at the endpoint, want 0", got)
	}
}

func TestAuthenticateMethod(t *testing.T) {
	tests := []struct {
		method string
		want   string
	}{
		{method: "", want: http.MethodGet},
		{method: "GET", want: http.MethodGet},
		{method: "post", want: http.MethodPost},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.method, func(t *testing.T) {
			received := make(chan string, 1)
			site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				received <- fmt.Sprintf("%s %d", r.Method, len(body))
				io.WriteString(w, `{"user":"alice"}`)
			})
			a := newAuthenticator(t, forward.Config{URL: site.URL, Method: tt.method})

			if _, err := a.Authenticate(visitorRequest()); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got, want := <-received, tt.want+" 0"; got != want {
				t.Errorf("got method and body length %q, want %q", got, want)
			}
		})
	}
}

func TestAuthenticateCustomFields(t *testing.T) {
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"user":"ignored","sub":"u-17","mobile":"+14155550100"}`)
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL, UserField: "sub", PhoneField: "mobile"})

	got, err := a.Authenticate(visitorRequest())
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if want := (identity.Identity{UserID: "u-17", Phone: "+14155550100"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestAuthenticateRedirectNotFollowed(t *testing.T) {
	var targetCalls atomic.Int32
	target := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		targetCalls.Add(1)
		io.WriteString(w, `{"user":"alice"}`)
	})
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/login", http.StatusFound)
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL})

	_, err := a.Authenticate(visitorRequest())
	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
	if got := targetCalls.Load(); got != 0 {
		t.Errorf("got %d requests at the redirect target, want 0", got)
	}
}

func TestAuthenticateTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL, Timeout: timeout})

	start := time.Now()
	_, err := a.Authenticate(visitorRequest())
	elapsed := time.Since(start)

	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("got return after %s, want about %s", elapsed, timeout)
	}
}

func TestAuthenticateSlowBodyTimesOut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"user":`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL, Timeout: timeout})

	start := time.Now()
	_, err := a.Authenticate(visitorRequest())
	elapsed := time.Since(start)

	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("got return after %s, want about %s", elapsed, timeout)
	}
}

func TestAuthenticateVisitorGone(t *testing.T) {
	arrived := make(chan struct{})
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL, Timeout: 5 * time.Second})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	_, err := a.Authenticate(visitorRequest().WithContext(ctx))
	elapsed := time.Since(start)

	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want one wrapping context.Canceled", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("got return after %s, want promptly after the visitor left", elapsed)
	}
}

func TestAuthenticateEndpointDown(t *testing.T) {
	site := httptest.NewServer(http.NotFoundHandler())
	url := site.URL + "/session?key=s3cret"
	site.Close()
	a := newAuthenticator(t, forward.Config{URL: url})

	_, err := a.Authenticate(visitorRequest())
	if o := classify(err); o != failed {
		t.Fatalf("got %v (error %v), want %v", o, err, failed)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got error %q, want one without the URL's query", err)
	}
}

func TestAuthenticateErrorsHideCredentials(t *testing.T) {
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "session=abc123 is broken")
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL})

	r := visitorRequest()
	r.Header.Set("Authorization", "Bearer visitor-token")
	_, err := a.Authenticate(r)
	if err == nil {
		t.Fatal("got no error, want one")
	}
	for _, secret := range []string{"abc123", "visitor-token"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("got error %q, want one without %q", err, secret)
		}
	}
}

func TestAuthenticateConcurrent(t *testing.T) {
	site := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie("session")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"user":%q}`, cookie.Value)
	})
	a := newAuthenticator(t, forward.Config{URL: site.URL})

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
			want := fmt.Sprintf("user-%d", i)
			r.AddCookie(&http.Cookie{Name: "session", Value: want})
			got, err := a.Authenticate(r)
			if err != nil {
				t.Errorf("Authenticate: %v", err)
				return
			}
			if got.UserID != want {
				t.Errorf("got user %q, want %q", got.UserID, want)
			}
		})
	}
	wg.Wait()
}

func TestNewRejectsConfig(t *testing.T) {
	tests := []struct {
		name   string
		cfg    forward.Config
		want   []string
		fields [][]string
	}{
		{name: "empty", cfg: forward.Config{}, want: []string{"forward: URL is required"}, fields: [][]string{{"URL"}}},
		{name: "relative URL", cfg: forward.Config{URL: "/session"}, want: []string{"URL"}, fields: [][]string{{"URL"}}},
		{name: "other scheme", cfg: forward.Config{URL: "ftp://site.example/session"}, want: []string{"http:// or https://"}, fields: [][]string{{"URL"}}},
		{name: "not a URL", cfg: forward.Config{URL: "not a url"}, want: []string{`forward: URL "not a url" must start with http:// or https://`}, fields: [][]string{{"URL"}}},
		{name: "other scheme with password", cfg: forward.Config{URL: "ftp://u:p@site.example/a session"}, want: []string{`forward: URL "ftp://u:xxxxx@site.example/a session" must start with http:// or https://`}, fields: [][]string{{"URL"}}},
		{name: "no host", cfg: forward.Config{URL: "http:///session"}, want: []string{"no host"}, fields: [][]string{{"URL"}}},
		{name: "user info", cfg: forward.Config{URL: "https://u:p@site.example/session"}, want: []string{"user name or password"}, fields: [][]string{{"URL"}}},
		{name: "every problem", cfg: forward.Config{
			URL:           "ftp://site.example",
			Method:        "DELETE",
			Timeout:       -time.Second,
			UserField:     "id",
			PhoneField:    "id",
			DefaultRegion: "XX",
		}, want: []string{"URL", "Method", "Timeout", "UserField and PhoneField are both", "DefaultRegion"},
			fields: [][]string{{"URL"}, {"Method"}, {"Timeout"}, {"UserField", "PhoneField"}, {"DefaultRegion"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := forward.New(tt.cfg)
			if err == nil {
				t.Fatalf("got %v and no error, want an error", a)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to mention %q", err, want)
				}
			}
			if got := problemFields(t, err); !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("got problems with fields %q, want %q", got, tt.fields)
			}
			if strings.Contains(err.Error(), "u:p") {
				t.Errorf("got error %q, want one without the URL's password", err)
			}
		})
	}
}

// problemFields returns the fields of each problem in err, an error of
// New, and fails the test for a problem that is not an
// *identity.FieldError of package forward.
func problemFields(t *testing.T, err error) [][]string {
	t.Helper()
	return identitytest.ProblemFields(t, "forward", err)
}

func TestSendsCredentialsUnencrypted(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{url: "http://auth.default.svc:8080/session", want: true},
		{url: "http://10.0.0.7/session", want: true},
		{url: "http://[fd00::7]:8080/session", want: true},
		{url: "http://127.0.0.2:8080/session", want: false},
		{url: "http://[::1]:8080/session", want: false},
		{url: "http://localhost:8080/session", want: false},
		{url: "HTTP://LOCALHOST/session", want: false},
		{url: "https://site.example/session", want: false},
		{url: "https://10.0.0.7/session", want: false},
	}
	for _, tt := range tests {
		a, err := forward.New(forward.Config{URL: tt.url})
		if err != nil {
			t.Fatalf("New(%q): %v", tt.url, err)
		}
		if got := a.SendsCredentialsUnencrypted(); got != tt.want {
			t.Errorf("%s: got %t, want %t", tt.url, got, tt.want)
		}
	}
}

func TestNewAcceptsConfig(t *testing.T) {
	for _, cfg := range []forward.Config{
		{URL: "https://site.example/session"},
		{URL: "http://127.0.0.1:8000/session?x=1", Method: "POST", Timeout: time.Second, DefaultRegion: "us"},
	} {
		if _, err := forward.New(cfg); err != nil {
			t.Errorf("New(%+v): got error %v, want none", cfg, err)
		}
	}
}
