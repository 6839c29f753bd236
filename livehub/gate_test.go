package livehub_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/livehub"
)

// throttlingHook is a generate hook whose response the test switches: a
// status with Retry-After: 1, optionally held until release is closed, or
// the fake's usual 200.
type throttlingHook struct {
	mu      sync.Mutex
	status  int // 0 for the usual response
	hold    chan struct{}
	arrived chan struct{} // receives a value when a held request arrives
}

func (h *throttlingHook) set(status int, hold chan struct{}) {
	h.mu.Lock()
	h.status, h.hold = status, hold
	h.mu.Unlock()
}

func (h *throttlingHook) serve(_ int, w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	status, hold := h.status, h.hold
	h.mu.Unlock()
	if hold != nil {
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	if status == 0 {
		return false
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, status, `{"error":"slow_down"}`)
	return true
}

func TestThrottleGate(t *testing.T) {
	tests := []struct {
		name   string
		status int
		check  func(error) bool
	}{
		{name: "429", status: http.StatusTooManyRequests, check: livehub.IsRateLimited},
		{name: "503", status: http.StatusServiceUnavailable, check: livehub.IsUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			hook := &throttlingHook{status: tt.status, arrived: make(chan struct{}, 1)}
			f := newFakeLiveHub(t, clock, fakeOptions{generateHook: hook.serve})
			c := f.client()
			c.MaxAttempts = 1 // no waits, so the fake clock alone moves the gate

			call := func() error {
				_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
				return err
			}
			wantHeldBack := func(step string, err error, left time.Duration) {
				t.Helper()
				var e *livehub.Error
				if !errors.Is(err, livehub.ErrThrottled) || !tt.check(err) || !errors.As(err, &e) {
					t.Errorf("%s: got error %v, want ErrThrottled with status %d", step, err, tt.status)
					return
				}
				if e.RetryAfter != left {
					t.Errorf("%s: got RetryAfter %v, want %v", step, e.RetryAfter, left)
				}
			}
			wantRequests := func(step string, want int) {
				t.Helper()
				if got := f.generateCount(); got != want {
					t.Errorf("%s: got %d generate requests, want %d", step, got, want)
				}
			}

			if err := call(); !tt.check(err) || errors.Is(err, livehub.ErrThrottled) {
				t.Errorf("first call: got error %v, want the response's status %d", err, tt.status)
			}
			wantRequests("first call", 1)
			wantHeldBack("at once", call(), time.Second)
			clock.Advance(400 * time.Millisecond)
			wantHeldBack("after 400 ms", call(), 600*time.Millisecond)
			wantRequests("during the pause", 1)

			// After the pause one call probes, and the others are held back
			// until its response arrives.
			clock.Advance(600 * time.Millisecond)
			release := make(chan struct{})
			hook.set(tt.status, release)
			probeErr := make(chan error, 1)
			go func() { probeErr <- call() }()
			<-hook.arrived
			wantHeldBack("during the probe", call(), time.Second)
			wantRequests("during the probe", 2)
			close(release)
			if err := <-probeErr; !tt.check(err) {
				t.Errorf("probe: got error %v, want status %d", err, tt.status)
			}

			// The probe's response closed the gate for another second.
			hook.set(0, nil)
			wantHeldBack("after the failed probe", call(), time.Second)
			clock.Advance(time.Second)
			if err := call(); err != nil {
				t.Errorf("second probe: %v", err)
			}
			if err := call(); err != nil {
				t.Errorf("call after the gate opened: %v", err)
			}
			wantRequests("at the end", 4)
		})
	}
}

func TestUnavailableWithoutRetryAfter(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
		generateHook: respond(http.StatusServiceUnavailable, nil, `{"error":"busy"}`),
	})
	c := f.client()
	c.MaxAttempts = 1

	for i := range 3 {
		_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
		if !livehub.IsUnavailable(err) || errors.Is(err, livehub.ErrThrottled) {
			t.Errorf("call %d: got error %v, want a 503 that was sent", i+1, err)
		}
	}
	if got := f.generateCount(); got != 3 {
		t.Errorf("got %d generate requests, want 3", got)
	}
}

// TestThrottledCallWaitsAndProbes checks that the call that got a 429 with a
// Retry-After that fits in its deadline waits and sends the probe itself,
// while a call made during the pause fails at once.
func TestThrottledCallWaitsAndProbes(t *testing.T) {
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	retrying := make(chan struct{})
	c.Observer = &livehub.Observer{Retry: func(context.Context, livehub.RetryEvent) { close(retrying) }}
	if err := c.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 429, Count: 1, RetryAfter: 1})

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, "")
		done <- err
	}()

	<-retrying
	_, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, "")
	if !errors.Is(err, livehub.ErrThrottled) || !livehub.IsRateLimited(err) {
		t.Errorf("call during the pause: got error %v, want ErrThrottled and IsRateLimited", err)
	}

	if err := <-done; err != nil {
		t.Fatalf("throttled call: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("throttled call took %v, want about the 1 s Retry-After", elapsed)
	}
	if got := em.Emulator.Stats().GenerateRequests; got != 2 {
		t.Errorf("got %d generate requests, want 2: the 429 and the probe", got)
	}
}

func TestTokenBackoff(t *testing.T) {
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{
		tokenHook: respond(http.StatusServiceUnavailable, nil, `{"error":"temporarily_unavailable"}`),
	})
	c := f.client()

	// After each failure, the next token request waits 100 ms, doubling up
	// to 800 ms.
	for i, backoff := range []time.Duration{100, 200, 400, 800, 800, 800} {
		backoff *= time.Millisecond
		if err := c.Ready(t.Context()); !livehub.IsUnavailable(err) || errors.Is(err, livehub.ErrTokenBackoff) {
			t.Fatalf("request %d: got error %v, want the token endpoint's 503", i+1, err)
		}
		if got := f.tokenCount(); got != i+1 {
			t.Fatalf("request %d: got %d token requests, want %d", i+1, got, i+1)
		}

		clock.Advance(backoff - time.Millisecond)
		err := c.Ready(t.Context())
		if !errors.Is(err, livehub.ErrTokenBackoff) || !livehub.IsUnavailable(err) {
			t.Errorf("1 ms before the %v backoff ends: got error %v, want ErrTokenBackoff and IsUnavailable", backoff, err)
		}
		if got := f.tokenCount(); got != i+1 {
			t.Errorf("1 ms before the %v backoff ends: got %d token requests, want %d", backoff, got, i+1)
		}
		clock.Advance(time.Millisecond)
	}
}

func TestInvalidateTokenEndsBackoff(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{
		tokenHook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n > 1 {
				return false
			}
			writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
			return true
		},
	})
	c := f.client()

	if err := c.Ready(t.Context()); !livehub.IsUnauthorized(err) {
		t.Fatalf("first Ready: got error %v, want IsUnauthorized", err)
	}
	c.InvalidateToken()
	if err := c.Ready(t.Context()); err != nil {
		t.Errorf("Ready after InvalidateToken: %v", err)
	}
}

func TestBackgroundRefreshFailure(t *testing.T) {
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{
		tokenHook: func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n != 2 {
				return false
			}
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)
			return true
		},
	})
	c := f.client()
	generate := generator(t, c, f)

	first := generate()
	clock.Advance(700 * time.Second)
	if got := generate(); got != first {
		t.Errorf("at 700 s: got token %q, want the first token %q", got, first)
	}
	livehub.WaitForTokenFetch(c)

	// The failed background request leaves the valid token in use, and
	// after the backoff the next call starts another.
	if got := generate(); got != first {
		t.Errorf("after the failed background request: got token %q, want the first token %q", got, first)
	}
	if got := f.tokenCount(); got != 2 {
		t.Errorf("during the backoff: got %d token requests, want 2", got)
	}
	clock.Advance(100 * time.Millisecond)
	generate()
	livehub.WaitForTokenFetch(c)
	if got := generate(); got == first {
		t.Errorf("after the second background request: got the first token %q, want a new one", got)
	}
	if got := f.tokenCount(); got != 3 {
		t.Errorf("got %d token requests, want 3", got)
	}
}

func TestThrottleGateCapsRetryAfter(t *testing.T) {
	clock := newFakeClock()
	throttle := true
	var mu sync.Mutex
	hook := func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if !throttle {
			return false
		}
		w.Header().Set("Retry-After", "86400")
		writeJSON(w, http.StatusTooManyRequests, `{"error":"slow_down"}`)
		return true
	}
	f := newFakeLiveHub(t, clock, fakeOptions{generateHook: hook})
	c := f.client()
	c.MaxAttempts = 1

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); !livehub.IsRateLimited(err) {
		t.Fatalf("first call: got error %v, want a 429", err)
	}
	_, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", "")
	var e *livehub.Error
	if !errors.Is(err, livehub.ErrThrottled) || !errors.As(err, &e) {
		t.Fatalf("held-back call: got error %v, want ErrThrottled", err)
	}
	if e.RetryAfter != livehub.MaxRetryAfter {
		t.Errorf("held-back call: got RetryAfter %v, want %v", e.RetryAfter, livehub.MaxRetryAfter)
	}

	mu.Lock()
	throttle = false
	mu.Unlock()
	clock.Advance(livehub.MaxRetryAfter)
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Errorf("call after MaxRetryAfter: %v", err)
	}
	if got := f.generateCount(); got != 2 {
		t.Errorf("got %d generate requests, want 2", got)
	}
}
