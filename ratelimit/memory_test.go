package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/internal/clocktest"
	"github.com/c2cauth/c2cauth/ratelimit"
	"github.com/c2cauth/c2cauth/ratelimit/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{Now: now})
	})
}

// fakeClock is a clock that moves only when Advance is called.
type fakeClock = clocktest.Clock

func newFakeClock() *fakeClock {
	return clocktest.New(time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC))
}

func mustAllow(t *testing.T, s ratelimit.Store, key string, rate ratelimit.Rate) ratelimit.Result {
	t.Helper()
	result, err := s.Allow(context.Background(), key, rate)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return result
}

func TestMemorySweepsIdleKeys(t *testing.T) {
	clock := newFakeClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, SweepInterval: time.Minute})
	rate := ratelimit.Rate{Limit: 2, Period: time.Minute}

	for i := range 200 {
		mustAllow(t, m, fmt.Sprintf("key-%d", i), rate)
	}
	if got := m.Len(); got != 200 {
		t.Fatalf("got %d keys, want 200", got)
	}

	// Each key used one of two tokens, so it is full again after half a
	// period. Every shard sweeps on its next access after SweepInterval.
	clock.Advance(time.Minute)
	for i := range 1000 {
		mustAllow(t, m, fmt.Sprintf("probe-%d", i), rate)
	}
	if got := m.Len(); got != 1000 {
		t.Errorf("got %d keys after the sweep, want the 1000 new ones", got)
	}
}

func TestMemoryKeepsBusyKeys(t *testing.T) {
	clock := newFakeClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, SweepInterval: time.Second})
	rate := ratelimit.Rate{Limit: 2, Period: time.Hour}
	mustAllow(t, m, "busy", rate)
	mustAllow(t, m, "busy", rate)

	clock.Advance(time.Minute)
	for i := range 1000 {
		mustAllow(t, m, fmt.Sprintf("probe-%d", i), rate)
	}
	if result := mustAllow(t, m, "busy", rate); result.Allowed {
		t.Error("busy key allowed after a sweep, want rejected: its bucket was dropped")
	}
}

func TestMemoryFull(t *testing.T) {
	clock := newFakeClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 3})
	rate := ratelimit.Rate{Limit: 1, Period: time.Minute}
	for _, key := range []string{"a", "b", "c"} {
		mustAllow(t, m, key, rate)
	}

	_, err := m.Allow(context.Background(), "d", rate)
	if !errors.Is(err, ratelimit.ErrMemoryFull) {
		t.Fatalf("new key in a full store: got error %v, want ErrMemoryFull", err)
	}
	if result := mustAllow(t, m, "a", rate); result.Allowed {
		t.Error("known key in a full store: got allowed, want rejected by its limit")
	}
	if got := m.Len(); got != 3 {
		t.Errorf("got %d keys, want 3", got)
	}

	// Once the buckets are full again, the keys are idle and make room.
	clock.Advance(time.Minute)
	if result := mustAllow(t, m, "d", rate); !result.Allowed {
		t.Error("new key after the others went idle: got rejected, want allowed")
	}
}

func TestMemoryFullSweepGap(t *testing.T) {
	clock := newFakeClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now, MaxKeys: 1})
	rate := ratelimit.Rate{Limit: 1, Period: 100 * time.Millisecond}
	mustAllow(t, m, "a", rate)
	if _, err := m.Allow(context.Background(), "b", rate); !errors.Is(err, ratelimit.ErrMemoryFull) {
		t.Fatalf("new key in a full store: got error %v, want ErrMemoryFull", err)
	}

	// Key a is idle after 100ms, but the whole store is swept at most
	// once a second.
	clock.Advance(500 * time.Millisecond)
	if _, err := m.Allow(context.Background(), "b", rate); !errors.Is(err, ratelimit.ErrMemoryFull) {
		t.Errorf("new key 500ms after a full sweep: got error %v, want ErrMemoryFull", err)
	}
	clock.Advance(500 * time.Millisecond)
	if result := mustAllow(t, m, "b", rate); !result.Allowed {
		t.Error("new key 1s after a full sweep: got rejected, want allowed")
	}
}

func TestMemoryFullConcurrent(t *testing.T) {
	const maxKeys = 50
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now, MaxKeys: maxKeys})
	rate := ratelimit.Rate{Limit: 1, Period: time.Hour}
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Go(func() {
			m.Allow(context.Background(), fmt.Sprintf("key-%d", i), rate)
		})
	}
	wg.Wait()
	if got := m.Len(); got != maxKeys {
		t.Errorf("got %d keys, want %d", got, maxKeys)
	}
}

func TestMemoryRateChange(t *testing.T) {
	clock := newFakeClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
	slow := ratelimit.Rate{Limit: 1, Period: time.Hour}
	fast := ratelimit.Rate{Limit: 5, Period: time.Second}
	mustAllow(t, m, "a", slow)
	if result := mustAllow(t, m, "a", fast); result.Allowed {
		t.Error("right after the rate changed: got allowed, want the empty bucket to carry over")
	}
	clock.Advance(time.Second)
	for i := range fast.Limit {
		if result := mustAllow(t, m, "a", fast); !result.Allowed {
			t.Fatalf("event %d at the new rate: got rejected, want allowed", i+1)
		}
	}
}

// TestMemoryRetryAfterManyRates checks, over many rates, that RetryAfter
// stays within the interval and that waiting it is enough, despite the
// float64 arithmetic of the buckets.
func TestMemoryRetryAfterManyRates(t *testing.T) {
	periods := []time.Duration{time.Second, 7 * time.Second, time.Minute, time.Hour, 24 * time.Hour, 1500 * time.Millisecond}
	for _, period := range periods {
		for limit := 1; limit <= 300; limit++ {
			rate := ratelimit.Rate{Limit: limit, Period: period}
			clock := newFakeClock()
			m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now})
			for range limit {
				mustAllow(t, m, "a", rate)
			}
			for step := range 3 {
				result := mustAllow(t, m, "a", rate)
				maxRetry := (rate.Interval() + time.Millisecond - 1).Truncate(time.Millisecond)
				if result.Allowed || result.RetryAfter <= 0 || result.RetryAfter > maxRetry {
					t.Fatalf("%v step %d: got %+v, want rejected with RetryAfter in (0, %v]", rate, step, result, maxRetry)
				}
				clock.Advance(result.RetryAfter)
				if result := mustAllow(t, m, "a", rate); !result.Allowed {
					t.Fatalf("%v step %d: rejected after RetryAfter, want allowed", rate, step)
				}
			}
		}
	}
}
