// Package storetest checks that a ratelimit.Store decides as the Store
// interface describes. Every Store implementation runs the same table:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
//			return newStore(t, now)
//		})
//	}
package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/internal/clocktest"
	"github.com/c2cauth/c2cauth/ratelimit"
)

// NewStoreFunc returns an empty store for one test that reads the current
// time from now. It may register cleanups on t.
type NewStoreFunc func(t *testing.T, now func() time.Time) ratelimit.Store

// Run checks the semantics of the stores that newStore makes. Each subtest
// makes its own store and clock, and uses keys that start with its own
// name, so a store shared between subtests (one Redis database, say) works
// too. Time only moves when a subtest advances its clock.
func Run(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *subject)
	}{
		{"burst then reject", testBurstThenReject},
		{"recovers one per interval", testRecoversOnePerInterval},
		{"recovers fully after period", testRecoversFullyAfterPeriod},
		{"burst capped at limit", testBurstCappedAtLimit},
		{"retry after is exact", testRetryAfterExact},
		{"retry after partial refill", testRetryAfterPartialRefill},
		{"rejections not counted", testRejectionsNotCounted},
		{"independent keys", testIndependentKeys},
		{"different rates", testDifferentRates},
		{"concurrent", testConcurrent},
		{"disabled rate", testDisabledRate},
		{"canceled context", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clocktest.New(time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC))
			tt.run(t, &subject{store: newStore(t, c.Now), clock: c, prefix: t.Name() + "/"})
		})
	}
}

// subject is the store under test with its clock.
type subject struct {
	store  ratelimit.Store
	clock  *clocktest.Clock
	prefix string
}

// allow sends one event for key and fails the test on an error.
func (s *subject) allow(t *testing.T, key string, rate ratelimit.Rate) ratelimit.Result {
	t.Helper()
	result, err := s.store.Allow(context.Background(), s.prefix+key, rate)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, rate, err)
	}
	return result
}

// drain sends rate.Limit events for key, which must all be allowed.
func (s *subject) drain(t *testing.T, key string, rate ratelimit.Rate) {
	t.Helper()
	for i := range rate.Limit {
		if result := s.allow(t, key, rate); !result.Allowed {
			t.Fatalf("%v: event %d of %d rejected, want allowed", rate, i+1, rate.Limit)
		}
	}
}

// reject sends one event for key, which must be rejected with a sane
// RetryAfter, and returns that RetryAfter.
func (s *subject) reject(t *testing.T, key string, rate ratelimit.Rate) time.Duration {
	t.Helper()
	result := s.allow(t, key, rate)
	if result.Allowed {
		t.Fatalf("%v: event allowed, want rejected", rate)
	}
	if result.Remaining != 0 {
		t.Errorf("%v: rejected with Remaining %d, want 0", rate, result.Remaining)
	}
	maxRetry := roundUp(rate.Interval())
	if result.RetryAfter <= 0 || result.RetryAfter > maxRetry {
		t.Errorf("%v: got RetryAfter %v, want more than 0 and at most %v", rate, result.RetryAfter, maxRetry)
	}
	if result.RetryAfter%time.Millisecond != 0 {
		t.Errorf("%v: got RetryAfter %v, want a whole number of milliseconds", rate, result.RetryAfter)
	}
	return result.RetryAfter
}

// roundUp rounds d up to a whole millisecond.
func roundUp(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// rates covers bursts of one and of many, and periods from a second to an
// hour.
var rates = []ratelimit.Rate{
	{Limit: 1, Period: time.Second},
	{Limit: 5, Period: time.Minute},
	{Limit: 3, Period: 30 * time.Second},
	{Limit: 10, Period: time.Hour},
	{Limit: 100, Period: time.Second},
}

// oddRates have intervals that are not whole milliseconds.
var oddRates = []ratelimit.Rate{
	{Limit: 3, Period: time.Second},
	{Limit: 7, Period: time.Minute},
	{Limit: 1, Period: 1500 * time.Microsecond},
	{Limit: 9, Period: 100 * time.Millisecond},
}

func testBurstThenReject(t *testing.T, s *subject) {
	for _, rate := range rates {
		key := rate.String()
		for i := range rate.Limit {
			result := s.allow(t, key, rate)
			if !result.Allowed {
				t.Fatalf("%v: event %d rejected, want allowed", rate, i+1)
			}
			if want := rate.Limit - 1 - i; result.Remaining != want {
				t.Errorf("%v: event %d: got Remaining %d, want %d", rate, i+1, result.Remaining, want)
			}
			if result.RetryAfter != 0 {
				t.Errorf("%v: event %d allowed with RetryAfter %v, want 0", rate, i+1, result.RetryAfter)
			}
		}
		s.reject(t, key, rate)
	}
}

func testRecoversOnePerInterval(t *testing.T, s *subject) {
	for _, rate := range rates {
		key := rate.String()
		s.drain(t, key, rate)
		for range 3 {
			s.clock.Advance(rate.Interval())
			if result := s.allow(t, key, rate); !result.Allowed {
				t.Fatalf("%v: rejected after %v, want allowed", rate, rate.Interval())
			}
			s.reject(t, key, rate)
		}
	}
}

func testRecoversFullyAfterPeriod(t *testing.T, s *subject) {
	for _, rate := range append(rates, oddRates...) {
		key := rate.String()
		s.drain(t, key, rate)
		s.reject(t, key, rate)
		s.clock.Advance(rate.Period)
		s.drain(t, key, rate)
		s.reject(t, key, rate)
	}
}

func testBurstCappedAtLimit(t *testing.T, s *subject) {
	rate := ratelimit.Rate{Limit: 4, Period: time.Minute}
	s.allow(t, "a", rate)
	s.clock.Advance(10 * rate.Period)
	s.drain(t, "a", rate)
	s.reject(t, "a", rate)
}

// testRetryAfterExact checks that RetryAfter is neither early nor late by
// more than its rounding: one millisecond before it the event is still
// rejected, and at it the event is allowed.
func testRetryAfterExact(t *testing.T, s *subject) {
	for _, rate := range append(rates, oddRates...) {
		key := rate.String()
		s.drain(t, key, rate)
		retryAfter := s.reject(t, key, rate)
		if retryAfter > time.Millisecond {
			s.clock.Advance(retryAfter - time.Millisecond)
			s.reject(t, key, rate)
			s.clock.Advance(time.Millisecond)
		} else {
			s.clock.Advance(retryAfter)
		}
		if result := s.allow(t, key, rate); !result.Allowed {
			t.Errorf("%v: rejected after waiting RetryAfter %v, want allowed", rate, retryAfter)
		}
	}
}

func testRetryAfterPartialRefill(t *testing.T, s *subject) {
	rate := ratelimit.Rate{Limit: 5, Period: time.Minute}
	s.drain(t, "a", rate)
	s.clock.Advance(5 * time.Second)
	got := s.reject(t, "a", rate)
	// One event takes 12s to come back, and 5s of it have passed.
	if want := 7 * time.Second; got < want || got > want+time.Millisecond {
		t.Errorf("got RetryAfter %v, want %v", got, want)
	}
}

func testRejectionsNotCounted(t *testing.T, s *subject) {
	rate := ratelimit.Rate{Limit: 2, Period: 10 * time.Second}
	s.drain(t, "a", rate)
	for range 50 {
		s.reject(t, "a", rate)
		s.clock.Advance(rate.Interval() / 50)
	}
	// Exactly one interval has passed since the burst was used up.
	if result := s.allow(t, "a", rate); !result.Allowed {
		t.Error("rejected one interval after the burst, want allowed: rejections were counted")
	}
}

func testIndependentKeys(t *testing.T, s *subject) {
	rate := ratelimit.Rate{Limit: 3, Period: time.Minute}
	s.drain(t, "a", rate)
	s.reject(t, "a", rate)
	s.drain(t, "b", rate)
	s.reject(t, "b", rate)
	s.drain(t, "a2", rate)
}

func testDifferentRates(t *testing.T, s *subject) {
	slow := ratelimit.Rate{Limit: 1, Period: time.Minute}
	fast := ratelimit.Rate{Limit: 3, Period: time.Second}
	s.drain(t, "slow", slow)
	s.drain(t, "fast", fast)
	s.reject(t, "slow", slow)
	s.reject(t, "fast", fast)

	s.clock.Advance(time.Second)
	s.reject(t, "slow", slow)
	s.drain(t, "fast", fast)
}

// testConcurrent sends many events for one key at once: exactly Limit of
// them must be allowed.
func testConcurrent(t *testing.T, s *subject) {
	const goroutines = 1000
	rate := ratelimit.Rate{Limit: 10, Period: time.Hour}
	var allowed, failed atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			result, err := s.store.Allow(context.Background(), s.prefix+"a", rate)
			switch {
			case err != nil:
				failed.Add(1)
			case result.Allowed:
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("got %d errors, want none", n)
	}
	if n := allowed.Load(); n != int64(rate.Limit) {
		t.Errorf("got %d of %d events allowed, want %d", n, goroutines, rate.Limit)
	}
}

func testDisabledRate(t *testing.T, s *subject) {
	for _, rate := range []ratelimit.Rate{
		{},
		{Limit: 5},
		{Period: time.Minute},
		{Limit: -1, Period: time.Minute},
		{Limit: 5, Period: -time.Minute},
	} {
		result, err := s.store.Allow(context.Background(), s.prefix+"a", rate)
		if err == nil {
			t.Errorf("%+v: got %+v and no error, want an error", rate, result)
		}
	}
	s.drain(t, "a", ratelimit.Rate{Limit: 2, Period: time.Minute})
}

func testCanceledContext(t *testing.T, s *subject) {
	rate := ratelimit.Rate{Limit: 2, Period: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		result, err := s.store.Allow(ctx, s.prefix+"a", rate)
		if err == nil {
			t.Fatalf("got %+v and no error, want an error", result)
		}
	}
	// Nothing was counted.
	s.drain(t, "a", rate)
}
