package livehub_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/livehub"
)

// checkTokenPause checks that c, whose last token request failed just now by
// clock, sends no token request for pause and sends one as soon as pause has
// passed. requests returns the number of token requests Live Hub received so
// far. The token endpoint must succeed by then.
func checkTokenPause(t *testing.T, c *livehub.Client, clock *fakeClock, requests func() int64, pause time.Duration) {
	t.Helper()
	before := requests()

	clock.Advance(pause - time.Millisecond)
	err := c.Ready(t.Context())
	if !errors.Is(err, livehub.ErrTokenBackoff) {
		t.Errorf("1 ms before the %v pause ends: got error %v, want ErrTokenBackoff", pause, err)
	}
	if got := requests(); got != before {
		t.Errorf("1 ms before the %v pause ends: got %d token requests, want %d", pause, got, before)
	}

	clock.Advance(time.Millisecond)
	if err := c.Ready(t.Context()); err != nil {
		t.Errorf("when the %v pause ends: %v", pause, err)
	}
	if got := requests(); got != before+1 {
		t.Errorf("when the %v pause ends: got %d token requests, want %d", pause, got, before+1)
	}
}

func TestTokenRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter int // seconds
		check      func(error) bool
		wantPause  time.Duration
	}{
		{name: "429", status: http.StatusTooManyRequests, retryAfter: 5, check: livehub.IsRateLimited, wantPause: 5 * time.Second},
		{name: "503", status: http.StatusServiceUnavailable, retryAfter: 7, check: livehub.IsUnavailable, wantPause: 7 * time.Second},
		{name: "capped", status: http.StatusTooManyRequests, retryAfter: 86400, check: livehub.IsRateLimited, wantPause: time.Minute},
		{name: "500 not honoured", status: http.StatusInternalServerError, retryAfter: 5, check: livehub.IsUnavailable, wantPause: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			clock := newFakeClock()
			em, c := startEmulator(t, emulator.Config{Now: clock.Now})
			addFault(t, em, emulator.Fault{Endpoint: "token", Status: tt.status, Count: 1, RetryAfter: tt.retryAfter})

			err := c.Ready(t.Context())
			if !tt.check(err) || errors.Is(err, livehub.ErrTokenBackoff) {
				t.Fatalf("first Ready: got error %v, want the token endpoint's %d", err, tt.status)
			}
			if e, ok := errors.AsType[*livehub.Error](err); !ok || e.RetryAfter != time.Duration(tt.retryAfter)*time.Second {
				t.Errorf("first Ready: got error %v, want an *Error with RetryAfter %ds", err, tt.retryAfter)
			}

			checkTokenPause(t, c, clock, func() int64 { return em.Emulator.Stats().TokenRequests }, tt.wantPause)
		})
	}
}

// TestTokenBackoffErrorRetryAfter checks that a call held back by the pause
// gets the time left in the wrapped error's RetryAfter, not the delay the
// token endpoint requested, which may be longer than the capped pause.
func TestTokenBackoffErrorRetryAfter(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	em, c := startEmulator(t, emulator.Config{Now: clock.Now})
	addFault(t, em, emulator.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, Count: 1, RetryAfter: 3600})

	if err := c.Ready(t.Context()); !livehub.IsRateLimited(err) {
		t.Fatalf("first Ready: got error %v, want IsRateLimited", err)
	}
	clock.Advance(45 * time.Second)
	err := c.Ready(t.Context())
	if !errors.Is(err, livehub.ErrTokenBackoff) || !livehub.IsRateLimited(err) {
		t.Fatalf("during the pause: got error %v, want ErrTokenBackoff and IsRateLimited", err)
	}
	e, ok := errors.AsType[*livehub.Error](err)
	if !ok {
		t.Fatalf("during the pause: got error %v, want one that wraps an *Error", err)
	}
	if e.RetryAfter != 15*time.Second {
		t.Errorf("during the pause: got RetryAfter %v, want the 15s left of the 1m pause", e.RetryAfter)
	}
}

// retryAfterRewriter replaces the Retry-After header of every response that
// has one with value.
type retryAfterRewriter struct {
	http.ResponseWriter
	value string
}

func (w retryAfterRewriter) WriteHeader(status int) {
	if w.Header().Get("Retry-After") != "" {
		w.Header().Set("Retry-After", w.value)
	}
	w.ResponseWriter.WriteHeader(status)
}

// TestTokenRetryAfterFormats sends Retry-After values that the emulator
// cannot, by rewriting its responses: an HTTP date is honoured, and a value
// that is invalid or already past leaves the 100 ms backoff.
func TestTokenRetryAfterFormats(t *testing.T) {
	// Every fake clock starts at the same time.
	start := newFakeClock().Now()
	date := func(d time.Duration) string { return start.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name      string
		value     string
		wantPause time.Duration
	}{
		{"HTTP date", date(7 * time.Second), 7 * time.Second},
		{"HTTP date capped", date(3 * time.Hour), time.Minute},
		{"past HTTP date", date(-time.Hour), 100 * time.Millisecond},
		{"text", "soon", 100 * time.Millisecond},
		{"negative", "-5", 100 * time.Millisecond},
		{"zero", "0", 100 * time.Millisecond},
		{"fraction", "2.5", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			clock := newFakeClock()
			em, c := startEmulator(t, emulator.Config{Now: clock.Now})
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				em.Emulator.ServeHTTP(retryAfterRewriter{ResponseWriter: w, value: tt.value}, r)
			}))
			t.Cleanup(front.Close)
			c.BaseURL = front.URL
			addFault(t, em, emulator.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, Count: 1, RetryAfter: 1})

			if err := c.Ready(t.Context()); !livehub.IsRateLimited(err) {
				t.Fatalf("first Ready: got error %v, want IsRateLimited", err)
			}
			checkTokenPause(t, c, clock, func() int64 { return em.Emulator.Stats().TokenRequests }, tt.wantPause)
		})
	}
}

// TestTokenRetryAfterBackgroundRefresh checks that a throttled request ahead
// of time leaves the cached token in use until its refresh time, and that no
// token request is sent before the requested pause has passed.
func TestTokenRetryAfterBackgroundRefresh(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	em, c := startEmulator(t, emulator.Config{TokenTTL: 900 * time.Second, Now: clock.Now})
	var mu sync.Mutex
	var fetches []livehub.TokenFetchEvent
	c.Observer = &livehub.Observer{TokenFetch: func(_ context.Context, e livehub.TokenFetchEvent) {
		mu.Lock()
		fetches = append(fetches, e)
		mu.Unlock()
	}}
	lastFetch := func() livehub.TokenFetchEvent {
		mu.Lock()
		defer mu.Unlock()
		return fetches[len(fetches)-1]
	}
	start := clock.Now()
	at := func(d time.Duration) { clock.Advance(start.Add(d).Sub(clock.Now())) }
	generate := func() error {
		_, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, "")
		livehub.WaitForTokenFetch(c)
		return err
	}
	checkTokenRequests := func(step string, want int64) {
		t.Helper()
		if got := em.Emulator.Stats().TokenRequests; got != want {
			t.Errorf("%s: got %d token requests, want %d", step, got, want)
		}
	}

	if err := generate(); err != nil {
		t.Fatalf("at 0 s: %v", err)
	}

	// From 675 s on the first token is replaced ahead of time. The request
	// at 700 s is throttled for 30 s, and the first token stays in use.
	at(700 * time.Second)
	addFault(t, em, emulator.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, Count: 1, RetryAfter: 30})
	if err := generate(); err != nil {
		t.Fatalf("at 700 s: %v", err)
	}
	checkTokenRequests("at 700 s", 2)
	e := lastFetch()
	if !e.Background || !livehub.IsRateLimited(e.Err) {
		t.Errorf("token request at 700 s: got %+v, want a background request that failed with 429", e)
	}
	if lhErr, ok := errors.AsType[*livehub.Error](e.Err); !ok || lhErr.RetryAfter != 30*time.Second {
		t.Errorf("token request at 700 s: got error %v, want an *Error with RetryAfter 30s", e.Err)
	}

	at(730*time.Second - time.Millisecond)
	if err := generate(); err != nil {
		t.Fatalf("1 ms before 730 s: %v", err)
	}
	checkTokenRequests("1 ms before 730 s", 2)
	at(730 * time.Second)
	if err := generate(); err != nil {
		t.Fatalf("at 730 s: %v", err)
	}
	checkTokenRequests("at 730 s", 3)
	if e := lastFetch(); !e.Background || e.Err != nil {
		t.Errorf("token request at 730 s: got %+v, want a successful background request", e)
	}

	// The second token, issued at 730 s, is replaced ahead of time from
	// 1405 s on and used until 1570 s. A 60 s pause that starts at 1560 s
	// outlasts its refresh time, so calls fail from 1570 s until 1620 s.
	at(1560 * time.Second)
	addFault(t, em, emulator.Fault{Endpoint: "token", Status: http.StatusServiceUnavailable, Count: 1, RetryAfter: 60})
	if err := generate(); err != nil {
		t.Fatalf("at 1560 s: %v", err)
	}
	checkTokenRequests("at 1560 s", 4)
	at(1570*time.Second - time.Millisecond)
	if err := generate(); err != nil {
		t.Fatalf("1 ms before 1570 s: %v", err)
	}
	at(1570 * time.Second)
	if err := generate(); !errors.Is(err, livehub.ErrTokenBackoff) || !livehub.IsUnavailable(err) {
		t.Errorf("at 1570 s: got error %v, want ErrTokenBackoff and IsUnavailable", err)
	}
	checkTokenRequests("at 1570 s", 4)
	at(1620 * time.Second)
	if err := generate(); err != nil {
		t.Fatalf("at 1620 s: %v", err)
	}
	checkTokenRequests("at 1620 s", 5)

	// An expired token would have drawn a 401 and a retry, which shows as
	// more generate requests than codes.
	if stats := em.Emulator.Stats(); stats.GenerateRequests != stats.CodesIssued {
		t.Errorf("got %d generate requests for %d codes; an expired token was used", stats.GenerateRequests, stats.CodesIssued)
	}
}

// countingTokenStore counts the loads of a memoryTokenStore.
type countingTokenStore struct {
	*memoryTokenStore
	loads atomic.Int64
}

func (s *countingTokenStore) Load(ctx context.Context) (livehub.SharedToken, bool, error) {
	s.loads.Add(1)
	return s.memoryTokenStore.Load(ctx)
}

// TestTokenStoreDuringPause checks that a Client whose token request was
// throttled sends no other during the pause, but takes a token that another
// Client shared meanwhile, and looks in the store at most once every 50 ms.
func TestTokenStoreDuringPause(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	em, a := startEmulator(t, emulator.Config{Now: clock.Now})
	store := &countingTokenStore{memoryTokenStore: &memoryTokenStore{}}
	a.TokenStore = store
	b := &livehub.Client{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret, Now: clock.Now, TokenStore: store}
	t.Cleanup(func() {
		livehub.WaitForTokenFetch(b)
		b.CloseIdleConnections()
	})
	checkTokenRequests := func(step string, want int64) {
		t.Helper()
		if got := em.Emulator.Stats().TokenRequests; got != want {
			t.Errorf("%s: got %d token requests, want %d", step, got, want)
		}
	}
	checkLoads := func(step string, before, want int64) {
		t.Helper()
		if got := store.loads.Load() - before; got != want {
			t.Errorf("%s: got %d store loads, want %d", step, got, want)
		}
	}

	addFault(t, em, emulator.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, Count: 1, RetryAfter: 30})
	if err := a.Ready(t.Context()); !livehub.IsRateLimited(err) {
		t.Fatalf("replica a: got error %v, want IsRateLimited", err)
	}
	checkTokenRequests("replica a", 1)

	// With nothing shared, replica a looks in the store once and fails.
	loads := store.loads.Load()
	for i := range 3 {
		if err := a.Ready(t.Context()); !errors.Is(err, livehub.ErrTokenBackoff) {
			t.Errorf("replica a during the pause, call %d: got error %v, want ErrTokenBackoff", i+1, err)
		}
	}
	checkLoads("replica a during the pause", loads, 1)
	checkTokenRequests("replica a during the pause", 1)

	// Replica b has not seen the 429, and its token request succeeds.
	if err := b.Ready(t.Context()); err != nil {
		t.Fatalf("replica b: %v", err)
	}
	checkTokenRequests("replica b", 2)
	shared, ok := store.shared()
	if !ok {
		t.Fatal("replica b shared no token")
	}

	// 50 ms later replica a looks again and takes the shared token.
	clock.Advance(50 * time.Millisecond)
	loads = store.loads.Load()
	if err := a.Ready(t.Context()); err != nil {
		t.Fatalf("replica a after replica b shared a token: %v", err)
	}
	checkLoads("replica a after replica b shared a token", loads, 1)
	if _, err := a.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Errorf("replica a with the shared token: %v", err)
	}
	checkTokenRequests("replica a with the shared token", 2)
	if got, _ := store.shared(); got.Value != shared.Value {
		t.Error("the shared token changed, want replica b's")
	}
}

// blockingTokenStore holds each Load until release is closed, after
// signalling on loading.
type blockingTokenStore struct {
	*memoryTokenStore
	loading chan struct{}
	release chan struct{}
}

func (s *blockingTokenStore) Load(ctx context.Context) (livehub.SharedToken, bool, error) {
	select {
	case s.loading <- struct{}{}:
	default:
	}
	<-s.release
	return s.memoryTokenStore.Load(ctx)
}

// TestPauseEndsDuringStoreLook checks that a call that waited for a look in
// the store gets a token request, not the pause's error, when the pause
// ended while it waited.
func TestPauseEndsDuringStoreLook(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	em, c := startEmulator(t, emulator.Config{Now: clock.Now})
	store := &blockingTokenStore{memoryTokenStore: &memoryTokenStore{}, loading: make(chan struct{}, 1), release: make(chan struct{})}
	close(store.release) // the first token request's loads pass at once

	addFault(t, em, emulator.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, Count: 1, RetryAfter: 1})
	c.TokenStore = store
	if err := c.Ready(t.Context()); !livehub.IsRateLimited(err) {
		t.Fatalf("first call: got error %v, want IsRateLimited", err)
	}

	store.release = make(chan struct{})
	for len(store.loading) > 0 {
		<-store.loading
	}
	done := make(chan error, 1)
	go func() { done <- c.Ready(t.Context()) }()
	<-store.loading // the call now waits for the look in the store
	clock.Advance(2 * time.Second)
	close(store.release)

	if err := <-done; err != nil {
		t.Errorf("call whose wait outlasted the pause: got error %v, want a token", err)
	}
	if got := em.Emulator.Stats().TokenRequests; got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
}
