package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/ratelimit"
)

var errStoreDown = errors.New("store down")

// switchStore passes events to a Memory store while up, and fails them
// with errStoreDown while down.
type switchStore struct {
	next  ratelimit.Store
	down  atomic.Bool
	calls atomic.Int64
}

func (s *switchStore) Allow(ctx context.Context, key string, rate ratelimit.Rate) (ratelimit.Result, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return ratelimit.Result{}, errStoreDown
	}
	return s.next.Allow(ctx, key, rate)
}

// errorLog collects the errors a wrapper reports.
type errorLog struct {
	mu     sync.Mutex
	errors []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, err)
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errors)
}

func TestFailurePolicies(t *testing.T) {
	rate := ratelimit.Rate{Limit: 2, Period: time.Minute}
	now := func() time.Time { return time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC) }
	tests := []struct {
		name string
		wrap func(store ratelimit.Store, onError func(error)) ratelimit.Store
		// wantAllowed is how many of three events are allowed while the
		// store is down, and wantErr whether the others fail with an error.
		wantAllowed int
		wantErr     bool
	}{
		{"fail closed", ratelimit.FailClosed, 0, true},
		{"fail open", ratelimit.FailOpen, 3, false},
		{"fallback", func(store ratelimit.Store, onError func(error)) ratelimit.Store {
			return ratelimit.Fallback(store, ratelimit.NewMemory(ratelimit.MemoryOptions{Now: now}), onError)
		}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &switchStore{next: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: now})}
			var log errorLog
			wrapped := tt.wrap(store, log.add)
			clock := now()
			ratelimit.SetFailureClock(wrapped, func() time.Time { return clock })
			ctx := context.Background()

			// While the store works, the wrapper decides as it does.
			for i, want := range []bool{true, true, false} {
				result, err := wrapped.Allow(ctx, "up", rate)
				if err != nil || result.Allowed != want {
					t.Fatalf("store up, event %d: got %+v and error %v, want Allowed %t", i+1, result, err, want)
				}
			}

			store.down.Store(true)
			allowed := 0
			for i := range 3 {
				result, err := wrapped.Allow(ctx, "down", rate)
				switch {
				case err != nil && !tt.wantErr:
					t.Errorf("store down, event %d: got error %v, want none", i+1, err)
				case err != nil && !errors.Is(err, errStoreDown):
					t.Errorf("store down, event %d: got error %v, want one wrapping %v", i+1, err, errStoreDown)
				case err == nil && result.Allowed:
					allowed++
				}
			}
			if allowed != tt.wantAllowed {
				t.Errorf("store down: got %d of 3 events allowed, want %d", allowed, tt.wantAllowed)
			}
			// The first failure is reported, and the store is skipped for
			// the hold-off, so the next events do not wait for it.
			if got := log.count(); got != 1 {
				t.Errorf("store down: got %d errors reported, want 1", got)
			}
			if got := store.calls.Load(); got != 4 {
				t.Errorf("store down: the store was called %d times in all, want 4 (3 while up, 1 while down)", got)
			}

			// Recovery needs nothing but the store working again and the
			// hold-off passing.
			store.down.Store(false)
			clock = clock.Add(ratelimit.FailureHoldOff)
			if result, err := wrapped.Allow(ctx, "recovered", rate); err != nil || !result.Allowed {
				t.Errorf("store up again: got %+v and error %v, want allowed", result, err)
			}
			if got := log.count(); got != 1 {
				t.Errorf("store up again: got %d errors reported, want still 1", got)
			}
		})
	}
}

func TestFailurePoliciesPassThrough(t *testing.T) {
	store := &switchStore{next: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	store.down.Store(true)
	var log errorLog
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	wrappers := map[string]ratelimit.Store{
		"fail closed": ratelimit.FailClosed(store, log.add),
		"fail open":   ratelimit.FailOpen(store, log.add),
		"fallback":    ratelimit.Fallback(store, ratelimit.NewMemory(ratelimit.MemoryOptions{}), log.add),
	}
	for name, wrapped := range wrappers {
		t.Run(name, func(t *testing.T) {
			if result, err := wrapped.Allow(canceled, "a", ratelimit.Rate{Limit: 1, Period: time.Second}); err == nil {
				t.Errorf("canceled context: got %+v and no error, want an error", result)
			}
			if result, err := wrapped.Allow(context.Background(), "a", ratelimit.Rate{}); err == nil {
				t.Errorf("disabled rate: got %+v and no error, want an error", result)
			}
		})
	}
	if got := log.count(); got != 0 {
		t.Errorf("got %d errors reported, want none", got)
	}
}

func TestFailOpenNilCallback(t *testing.T) {
	store := &switchStore{next: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	store.down.Store(true)
	result, err := ratelimit.FailOpen(store, nil).Allow(context.Background(), "a", ratelimit.Rate{Limit: 1, Period: time.Second})
	if err != nil || !result.Allowed {
		t.Errorf("got %+v and error %v, want allowed", result, err)
	}
}
