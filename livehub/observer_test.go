package livehub_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
)

type requestIDKey struct{}

// recorder collects Observer events, each with the request ID of its
// context.
type recorder struct {
	mu         sync.Mutex
	retries    []livehub.RetryEvent
	fetches    []livehub.TokenFetchEvent
	upstream   []livehub.UpstreamEvent
	requestIDs []any
}

func (r *recorder) observer() *livehub.Observer {
	return &livehub.Observer{
		Retry: func(ctx context.Context, e livehub.RetryEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.retries = append(r.retries, e)
			r.requestIDs = append(r.requestIDs, ctx.Value(requestIDKey{}))
		},
		TokenFetch: func(ctx context.Context, e livehub.TokenFetchEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.fetches = append(r.fetches, e)
			r.requestIDs = append(r.requestIDs, ctx.Value(requestIDKey{}))
		},
		Upstream: func(ctx context.Context, e livehub.UpstreamEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.upstream = append(r.upstream, e)
			r.requestIDs = append(r.requestIDs, ctx.Value(requestIDKey{}))
		},
	}
}

// statuses returns the status of each upstream event for op, in order.
func (r *recorder) statuses(op string) []int {
	var list []int
	for _, e := range r.upstream {
		if e.Op == op {
			list = append(list, e.StatusCode)
		}
	}
	return list
}

func TestObserver(t *testing.T) {
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{
		// Both endpoints fail once with a body that repeats a secret.
		tokenHook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n > 1 {
				return false
			}
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable","error_description":"secret `+testClientSecret+` is busy"}`)
			return true
		},
		generateHook: func(n int, w http.ResponseWriter, r *http.Request) bool {
			if n > 1 {
				return false
			}
			token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			writeJSON(w, http.StatusServiceUnavailable, `{"error":"busy","message":"token `+token+` is busy"}`)
			return true
		},
	})
	c := f.client()
	c.Random = halfRandom
	var rec recorder
	c.Observer = rec.observer()
	ctx := context.WithValue(t.Context(), requestIDKey{}, "req-42")

	// The token request fails, and after the backoff a new one succeeds.
	if _, err := c.GenerateAuthenticationCode(ctx, "conn-1", ""); !livehub.IsUnavailable(err) {
		t.Fatalf("first call: got error %v, want IsUnavailable", err)
	}
	clock.Advance(100 * time.Millisecond)
	// The first generate request fails with 503 and is retried after half
	// of the first backoff ceiling, 25 ms.
	if _, err := c.GenerateAuthenticationCode(ctx, "conn-1", ""); err != nil {
		t.Fatalf("second call: %v", err)
	}
	// Revoked tokens draw a 401, a new token and an immediate retry.
	f.revokeTokens()
	if _, err := c.GenerateAuthenticationCode(ctx, "conn-1", ""); err != nil {
		t.Fatalf("call after revocation: %v", err)
	}
	// Past three quarters of the token's lifetime, a call starts a token
	// request in the background.
	clock.Advance(700 * time.Second)
	if _, err := c.GenerateAuthenticationCode(ctx, "conn-1", ""); err != nil {
		t.Fatalf("call at 700 s: %v", err)
	}
	livehub.WaitForTokenFetch(c)

	rec.mu.Lock()
	defer rec.mu.Unlock()

	t.Run("retries", func(t *testing.T) {
		if len(rec.retries) != 2 {
			t.Fatalf("got %d retry events, want 2: %+v", len(rec.retries), rec.retries)
		}
		first, second := rec.retries[0], rec.retries[1]
		if first.Op != livehub.OpGenerate || first.Attempt != 2 || first.Wait != 25*time.Millisecond || !livehub.IsUnavailable(first.Err) {
			t.Errorf("after the 503: got %+v, want op generate, attempt 2, wait 25ms and an IsUnavailable error", first)
		}
		if second.Op != livehub.OpGenerate || second.Attempt != 2 || second.Wait != 0 || !isStatus(http.StatusUnauthorized)(second.Err) {
			t.Errorf("after the 401: got %+v, want op generate, attempt 2, no wait and a 401 error", second)
		}
	})

	t.Run("token fetches", func(t *testing.T) {
		if len(rec.fetches) != 4 {
			t.Fatalf("got %d token fetch events, want 4: %+v", len(rec.fetches), rec.fetches)
		}
		wantOK := []bool{false, true, true, true}
		wantBackground := []bool{false, false, false, true}
		for i, e := range rec.fetches {
			if got := e.Err == nil; got != wantOK[i] {
				t.Errorf("token fetch %d: got error %v, want success %t", i+1, e.Err, wantOK[i])
			}
			if e.Background != wantBackground[i] {
				t.Errorf("token fetch %d: got Background %t, want %t", i+1, e.Background, wantBackground[i])
			}
			if e.Duration <= 0 {
				t.Errorf("token fetch %d: got Duration %v, want more than 0", i+1, e.Duration)
			}
		}
	})

	t.Run("upstream", func(t *testing.T) {
		if got, want := rec.statuses(livehub.OpToken), []int{503, 200, 200, 200}; !slices.Equal(got, want) {
			t.Errorf("got token statuses %v, want %v", got, want)
		}
		if got, want := rec.statuses(livehub.OpGenerate), []int{503, 200, 401, 200, 200}; !slices.Equal(got, want) {
			t.Errorf("got generate statuses %v, want %v", got, want)
		}
		for _, e := range rec.upstream {
			if (e.StatusCode == http.StatusOK) != (e.Err == nil) {
				t.Errorf("got status %d with error %v, want an error exactly when the status is not 200", e.StatusCode, e.Err)
			}
		}
	})

	t.Run("request ID", func(t *testing.T) {
		for i, id := range rec.requestIDs {
			if id != "req-42" {
				t.Errorf("event %d: got request ID %v, want req-42", i+1, id)
			}
		}
	})

	t.Run("no secrets", func(t *testing.T) {
		f.mu.Lock()
		secrets := []string{testClientSecret}
		for _, req := range f.generateRequests {
			secrets = append(secrets, strings.TrimPrefix(req.header.Get("Authorization"), "Bearer "))
		}
		f.mu.Unlock()

		var events []any
		for _, e := range rec.retries {
			events = append(events, e)
		}
		for _, e := range rec.fetches {
			events = append(events, e)
		}
		for _, e := range rec.upstream {
			events = append(events, e)
		}
		for _, e := range events {
			text := fmt.Sprintf("%+v %#v", e, e)
			if err := eventErr(e); err != nil {
				var lhErr *livehub.Error
				if errors.As(err, &lhErr) {
					text += " " + lhErr.Description + " " + string(lhErr.Body)
				}
			}
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Errorf("event %s contains the secret or token %q", text, secret)
				}
			}
		}
	})
}

func eventErr(e any) error {
	switch e := e.(type) {
	case livehub.RetryEvent:
		return e.Err
	case livehub.TokenFetchEvent:
		return e.Err
	case livehub.UpstreamEvent:
		return e.Err
	}
	return nil
}

func TestObserverNil(t *testing.T) {
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	c := f.client()
	c.Observer = &livehub.Observer{} // every callback nil

	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("GenerateAuthenticationCode: %v", err)
	}
}
