package livehub_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
)

func TestTokenRequestForm(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("GenerateAuthenticationCode: %v", err)
	}

	if got := f.tokenCount(); got != 1 {
		t.Fatalf("got %d token requests, want 1", got)
	}
	req := f.tokenRequests[0]
	if req.method != http.MethodPost {
		t.Errorf("got method %q, want POST", req.method)
	}
	if req.path != "/oauth/token" {
		t.Errorf("got path %q, want /oauth/token", req.path)
	}
	if got := req.header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("got Content-Type %q, want application/x-www-form-urlencoded", got)
	}
	if got := req.header.Get("Authorization"); got != "" {
		t.Errorf("got Authorization header %q, want none because the credentials go in the body", got)
	}
	form, err := url.ParseQuery(req.body)
	if err != nil {
		t.Fatalf("parse token request body %q: %v", req.body, err)
	}
	want := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {testClientID},
		"client_secret": {testClientSecret},
	}
	if !reflect.DeepEqual(form, want) {
		t.Errorf("got form %v, want %v", form, want)
	}
}

func TestGenerateRequest(t *testing.T) {
	tests := []struct {
		name        string
		id          string
		callerPhone string
		wantPath    string
		wantBody    string
	}{
		{
			name:     "no caller phone",
			id:       "f399069f-e84f-41e4-ac71-fab2ded73f1c",
			wantPath: "/api/v1/sipConnections/f399069f-e84f-41e4-ac71-fab2ded73f1c/generateAuthenticationCode",
			wantBody: `{}`,
		},
		{
			name:        "caller phone",
			id:          "f399069f-e84f-41e4-ac71-fab2ded73f1c",
			callerPhone: "+123456789",
			wantPath:    "/api/v1/sipConnections/f399069f-e84f-41e4-ac71-fab2ded73f1c/generateAuthenticationCode",
			wantBody:    `{"callerPhone":"+123456789"}`,
		},
		{
			name:     "escaped ID",
			id:       "a/b c?d",
			wantPath: "/api/v1/sipConnections/a%2Fb%20c%3Fd/generateAuthenticationCode",
			wantBody: `{}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
			c := f.client()

			code, err := c.GenerateAuthenticationCode(t.Context(), tt.id, tt.callerPhone)
			if err != nil {
				t.Fatalf("GenerateAuthenticationCode: %v", err)
			}
			if want := "LHv1_00000000000000000000000000000001"; code != want {
				t.Errorf("got code %q, want %q", code, want)
			}

			if got := f.generateCount(); got != 1 {
				t.Fatalf("got %d generate requests, want 1", got)
			}
			req := f.generateRequests[0]
			if req.path != tt.wantPath {
				t.Errorf("got path %q, want %q", req.path, tt.wantPath)
			}
			if req.body != tt.wantBody {
				t.Errorf("got body %q, want %q", req.body, tt.wantBody)
			}
			if got, want := req.header.Get("Authorization"), "Bearer access-token-0001-"; !strings.HasPrefix(got, want) {
				t.Errorf("got Authorization %q, want prefix %q", got, want)
			}
			if got := req.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			if got := req.header.Get("Accept"); got != "application/json" {
				t.Errorf("got Accept %q, want application/json", got)
			}
		})
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()
	c.BaseURL += "/"

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("GenerateAuthenticationCode: %v", err)
	}
}

func TestInvalidSIPConnectionID(t *testing.T) {
	for _, id := range []string{"", ".", ".."} {
		t.Run(id, func(t *testing.T) {
			f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
			c := f.client()

			_, err := c.GenerateAuthenticationCode(t.Context(), id, "")
			if err == nil {
				t.Fatalf("got no error for SIP connection ID %q, want one", id)
			}
			if got := f.tokenCount() + f.generateCount(); got != 0 {
				t.Errorf("got %d requests, want 0", got)
			}
		})
	}
}

func TestMissingCredentials(t *testing.T) {
	tests := []struct {
		name         string
		id, secret   string
		wantInErrMsg string
	}{
		{name: "no client ID", secret: testClientSecret, wantInErrMsg: "client ID is empty"},
		{name: "no client secret", id: testClientID, wantInErrMsg: "client secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
			c := f.client()
			c.ClientID, c.ClientSecret = tt.id, tt.secret

			err := c.Ready(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.wantInErrMsg) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantInErrMsg)
			}
			if got := f.tokenCount(); got != 0 {
				t.Errorf("got %d token requests, want 0", got)
			}
		})
	}
}

func TestConcurrentColdStart(t *testing.T) {
	const callers = 200
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
		tokenHook: func(int, http.ResponseWriter, *http.Request) bool {
			// Hold the token response briefly so that most callers
			// arrive while the request is in flight.
			time.Sleep(50 * time.Millisecond)
			return false
		},
	})
	c := f.client()

	start := make(chan struct{})
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			<-start
			_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)

	for err := range errs {
		if err != nil {
			t.Errorf("GenerateAuthenticationCode: %v", err)
		}
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
	if got := f.generateCount(); got != callers {
		t.Errorf("got %d generate requests, want %d", got, callers)
	}
}

func TestSequentialReuse(t *testing.T) {
	const calls = 1000
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()

	for i := range calls {
		if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
}

func TestTokenRefresh(t *testing.T) {
	tests := []struct {
		name            string
		expiresIn       string
		defaultLifetime time.Duration
		wantAheadAt     time.Duration // three quarters of the lifetime
		wantRefreshAt   time.Duration // a tenth of the lifetime, at most one minute, before expiry
	}{
		{name: "900 s", expiresIn: "900", wantAheadAt: 675 * time.Second, wantRefreshAt: 840 * time.Second},
		{name: "one hour", expiresIn: "3600", wantAheadAt: 2700 * time.Second, wantRefreshAt: 3540 * time.Second},
		{name: "300 s", expiresIn: "300", wantAheadAt: 225 * time.Second, wantRefreshAt: 270 * time.Second},
		{name: "string 900", expiresIn: `"900"`, wantAheadAt: 675 * time.Second, wantRefreshAt: 840 * time.Second},
		{name: "missing uses 5m default", expiresIn: "-", wantAheadAt: 225 * time.Second, wantRefreshAt: 270 * time.Second},
		{name: "missing uses set default", expiresIn: "-", defaultLifetime: 2 * time.Minute, wantAheadAt: 90 * time.Second, wantRefreshAt: 108 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name+" ahead", func(t *testing.T) {
			clock := newFakeClock()
			f := newFakeLiveHub(t, clock, fakeOptions{expiresIn: tt.expiresIn})
			c := f.client()
			c.DefaultTokenLifetime = tt.defaultLifetime
			generate := generator(t, c, f)

			first := generate()
			clock.Advance(tt.wantAheadAt - time.Second)
			if got := generate(); got != first {
				t.Errorf("1 s before the refresh-ahead time: got token %q, want the first token %q", got, first)
			}
			livehub.WaitForTokenFetch(c)
			if got := f.tokenCount(); got != 1 {
				t.Errorf("1 s before the refresh-ahead time: got %d token requests, want 1", got)
			}

			clock.Advance(time.Second)
			if got := generate(); got != first {
				t.Errorf("at the refresh-ahead time: got token %q, want the first token %q while the next is fetched", got, first)
			}
			livehub.WaitForTokenFetch(c)
			if got := f.tokenCount(); got != 2 {
				t.Errorf("at the refresh-ahead time: got %d token requests, want 2", got)
			}
			if got := generate(); got == first {
				t.Errorf("after the background token request: got the first token %q, want a new one", got)
			}
			if got := f.tokenCount(); got != 2 {
				t.Errorf("after the background token request: got %d token requests, want 2", got)
			}
		})

		// When the background token request has not returned by the refresh
		// time, calls stop using the old token and wait for it.
		t.Run(tt.name+" hard", func(t *testing.T) {
			clock := newFakeClock()
			release := make(chan struct{})
			var releaseOnce sync.Once
			f := newFakeLiveHub(t, clock, fakeOptions{
				expiresIn: tt.expiresIn,
				tokenHook: func(n int, _ http.ResponseWriter, _ *http.Request) bool {
					if n == 2 {
						<-release
					}
					return false
				},
			})
			// Registered after the fake, so it runs before the fake closes.
			t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
			c := f.client()
			c.DefaultTokenLifetime = tt.defaultLifetime
			generate := generator(t, c, f)

			first := generate()
			clock.Advance(tt.wantRefreshAt - time.Second)
			if got := generate(); got != first {
				t.Errorf("1 s before the refresh time: got token %q, want the first token %q", got, first)
			}

			clock.Advance(time.Second)
			got := make(chan string, 1)
			go func() {
				_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
				if err != nil {
					t.Errorf("at the refresh time: %v", err)
				}
				got <- f.lastBearer()
			}()
			select {
			case token := <-got:
				t.Fatalf("at the refresh time: call returned with token %q before the token request finished", token)
			case <-time.After(50 * time.Millisecond):
			}
			releaseOnce.Do(func() { close(release) })
			if token := <-got; token == first {
				t.Errorf("at the refresh time: got the first token %q, want a new one", token)
			}
			if n := f.tokenCount(); n != 2 {
				t.Errorf("at the refresh time: got %d token requests, want 2", n)
			}
		})
	}
}

// generator returns a function that gets one code from c and returns the
// access token the fake saw with it.
func generator(t *testing.T, c *livehub.Client, f *fakeLiveHub) func() string {
	return func() string {
		t.Helper()
		if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
			t.Fatalf("GenerateAuthenticationCode: %v", err)
		}
		return f.lastBearer()
	}
}

func TestTokenExpiryFromRequestStart(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	f := newFakeLiveHub(t, clock, fakeOptions{
		expiresIn: "900",
		tokenHook: func(n int, _ http.ResponseWriter, _ *http.Request) bool {
			if n == 1 {
				clock.Advance(10 * time.Second) // a slow token response
			}
			return false
		},
	})
	c := f.client()

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("first call: %v", err)
	}
	clock.Advance(start.Add(674 * time.Second).Sub(clock.Now()))
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("call at 674 s: %v", err)
	}
	livehub.WaitForTokenFetch(c)
	if got := f.tokenCount(); got != 1 {
		t.Errorf("at 674 s after the token request started: got %d token requests, want 1", got)
	}

	clock.Advance(time.Second)
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("call at 675 s: %v", err)
	}
	livehub.WaitForTokenFetch(c)
	if got := f.tokenCount(); got != 2 {
		t.Errorf("at 675 s after the token request started: got %d token requests, want 2", got)
	}
}

func TestTokenNeverUsedAfterExpiry(t *testing.T) {
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{expiresIn: "900"})
	c := f.client()

	// Step through 3840 s of fake time. The fake fails the test if any
	// request carries an expired token.
	for elapsed := time.Duration(0); elapsed <= 3840*time.Second; elapsed += 10 * time.Second {
		if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
			t.Fatalf("at %v: %v", elapsed, err)
		}
		clock.Advance(10 * time.Second)
	}
	livehub.WaitForTokenFetch(c)

	// Tokens are fetched at 0 s and then in the background at the first
	// step past three quarters of the current token's 900 s: 680, 1360,
	// 2040, 2720 and 3400 s.
	if got := f.tokenCount(); got != 6 {
		t.Errorf("got %d token requests, want 6", got)
	}
}

func TestTokenExpiredOnArrival(t *testing.T) {
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{
		expiresIn: "1",
		tokenHook: func(int, http.ResponseWriter, *http.Request) bool {
			clock.Advance(2 * time.Second) // the token request takes longer than the token lives
			return false
		},
	})
	c := f.client()

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err == nil {
		t.Fatal("got no error, want one for a token that expired before use")
	}
	if got := f.generateCount(); got != 0 {
		t.Errorf("got %d generate requests, want 0", got)
	}
}

func TestUnauthorizedRetry(t *testing.T) {
	tests := []struct {
		name          string
		rejections    int // leading generate requests rejected with 401
		wantErr       bool
		wantTokens    int
		wantGenerates int
	}{
		{name: "one 401 then success", rejections: 1, wantTokens: 2, wantGenerates: 2},
		{name: "two 401s", rejections: 2, wantErr: true, wantTokens: 2, wantGenerates: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
				generateHook: func(n int, w http.ResponseWriter, r *http.Request) bool {
					if n > tt.rejections {
						return false
					}
					writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_token"}`)
					return true
				},
			})
			c := f.client()

			code, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
			if tt.wantErr {
				if !livehub.IsUnauthorized(err) {
					t.Errorf("got error %v, want IsUnauthorized", err)
				}
			} else if err != nil || code == "" {
				t.Errorf("got code %q and error %v, want a code", code, err)
			}
			if got := f.tokenCount(); got != tt.wantTokens {
				t.Errorf("got %d token requests, want %d", got, tt.wantTokens)
			}
			if got := f.generateCount(); got != tt.wantGenerates {
				t.Errorf("got %d generate requests, want %d", got, tt.wantGenerates)
			}
		})
	}
}

func TestRevokedTokenConcurrent(t *testing.T) {
	const callers = 50
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("warm-up call: %v", err)
	}
	f.revokeTokens()

	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
				t.Errorf("GenerateAuthenticationCode: %v", err)
			}
		})
	}
	wg.Wait()

	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
}

func TestFailedTokenRequestNotCached(t *testing.T) {
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{
		tokenHook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n > 1 {
				return false
			}
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)
			return true
		},
	})
	c := f.client()

	_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
	if !livehub.IsUnavailable(err) {
		t.Fatalf("first call: got error %v, want IsUnavailable", err)
	}

	// During the 100 ms backoff, a call fails with the same error and sends
	// no token request.
	_, err = c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
	if !errors.Is(err, livehub.ErrTokenBackoff) || !livehub.IsUnavailable(err) {
		t.Errorf("call during the backoff: got error %v, want ErrTokenBackoff and IsUnavailable", err)
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("during the backoff: got %d token requests, want 1", got)
	}

	clock.Advance(100 * time.Millisecond)
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("call after the backoff: %v", err)
	}
	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
}

func TestReady(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()

	for i := range 2 {
		if err := c.Ready(t.Context()); err != nil {
			t.Fatalf("Ready call %d: %v", i+1, err)
		}
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}

	c = f.client()
	c.ClientSecret = "wrong"
	if err := c.Ready(t.Context()); !livehub.IsUnauthorized(err) {
		t.Errorf("wrong secret: got error %v, want IsUnauthorized", err)
	}
}

func TestInvalidateToken(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("first call: %v", err)
	}
	c.InvalidateToken()
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
}

func TestTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	hang := func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	tests := []struct {
		name string
		opts fakeOptions
	}{
		{name: "token", opts: fakeOptions{tokenHook: hang}},
		{name: "generate", opts: fakeOptions{generateHook: hang}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLiveHub(t, newFakeClock(), tt.opts)
			c := f.client()
			c.Timeout = timeout

			start := time.Now()
			_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
			elapsed := time.Since(start)

			if !livehub.IsTimeout(err) {
				t.Errorf("got error %v, want IsTimeout", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got error %v, want one wrapping context.DeadlineExceeded", err)
			}
			// Generous bound for slow CI machines; the point is that the
			// call does not wait for the server.
			if elapsed > timeout+time.Second {
				t.Errorf("call took %v, want about %v", elapsed, timeout)
			}
		})
	}
}

func TestCancelledWaiter(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	var arrivedOnce sync.Once
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
		tokenHook: func(_ int, _ http.ResponseWriter, r *http.Request) bool {
			arrivedOnce.Do(func() { close(arrived) })
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return false
		},
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	c := f.client()

	// The caller that will cancel starts the token request, so the patient
	// caller depends on a request that a cancellable context began.
	ctx, cancel := context.WithCancel(t.Context())
	cancelledErr := make(chan error, 1)
	go func() {
		_, err := c.GenerateAuthenticationCode(ctx, "conn-1", "")
		cancelledErr <- err
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("token request did not arrive within 5 s")
	}

	patientCode := make(chan string, 1)
	patientErr := make(chan error, 1)
	go func() {
		code, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
		patientCode <- code
		patientErr <- err
	}()
	cancel()
	select {
	case err := <-cancelledErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: got error %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled caller still waiting after 2 s")
	}

	close(release)
	if err := <-patientErr; err != nil {
		t.Errorf("patient caller: %v", err)
	}
	if code := <-patientCode; code == "" {
		t.Error("patient caller: got no code")
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var otherHits int
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherHits++
		mu.Unlock()
		writeJSON(w, http.StatusOK, `{"authenticationCode":"stolen"}`)
	}))
	t.Cleanup(other.Close)
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
		generateHook: func(_ int, w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
			return true
		},
	})
	c := f.client()

	_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
	var e *livehub.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("got error %v, want *Error with status 307", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if otherHits != 0 {
		t.Errorf("got %d requests at the redirect target, want 0", otherHits)
	}
}

func TestInvalidSuccessResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "too large", body: `{"authenticationCode":"` + strings.Repeat("a", 5000) + `"}`},
		{name: "empty code", body: `{"authenticationCode":""}`},
		{name: "missing code", body: `{}`},
		{name: "number code", body: `{"authenticationCode":42}`},
		{name: "not JSON", body: `<html>ok</html>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
				generateHook: respond(http.StatusOK, nil, tt.body),
			})
			c := f.client()

			code, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
			if !errors.Is(err, livehub.ErrInvalidResponse) {
				t.Errorf("got code %q and error %v, want ErrInvalidResponse", code, err)
			}
		})
	}
}
