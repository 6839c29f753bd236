package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// failureHoldOff is how long the wrappers skip a store after it failed. An
// unreachable store costs a dial timeout per call, and a request checks
// up to three limits, so without it every request would wait for each of
// them. A store that recovers is used again within this time.
const failureHoldOff = time.Second

// errStoreHeldOff is the cause reported while a failed store is skipped.
var errStoreHeldOff = errors.New("skipped for a moment after it failed")

// FailClosed returns a Store that decides with store and reports each of its
// errors to onError before returning it, so that the Limiter rejects the
// request. It decides exactly as store does and only adds the report.
//
// Failing closed is the default of every Store, and the safe choice: a
// limiter that lets requests through unchecked lets anyone obtain as many
// codes as they like, and each code can start a paid call (toll fraud).
// FailOpen and Fallback choose otherwise.
//
// After store fails, the three wrappers skip it for one second and apply
// their policy at once, so an unreachable store does not add a timeout to
// every limit of every request. Then they try store again, so service
// returns to normal within about a second of store working again, without a
// restart: go-redis, for one, reconnects by itself. They return a done context's error, and the error
// for a rate that is not enabled, as it is and without reporting it,
// because neither is an outage of store. onError may be nil. It is called
// from the goroutine of the request, often from many at once, so it must be
// quick and safe for concurrent use.
func FailClosed(store Store, onError func(error)) Store {
	return &failureStore{store: store, onError: onError}
}

// FailOpen returns a Store that decides with store and, when store fails,
// reports the error to onError and allows the event, with Remaining 0. So
// while store is away nothing limits requests, which keeps click-to-call
// working at the risk that FailClosed describes. Fallback keeps a limit
// meanwhile.
func FailOpen(store Store, onError func(error)) Store {
	return &failureStore{store: store, onError: onError, open: true}
}

// Fallback returns a Store that decides with store and, when store fails,
// reports the error to onError and decides with fallback instead, typically
// a Memory store. With a Redis store shared by N replicas and a Memory store
// in each as fallback, an outage loosens each limit to at most N times its
// rate while it lasts. An error of fallback is returned as it is.
func Fallback(store, fallback Store, onError func(error)) Store {
	return &failureStore{store: store, onError: onError, fallback: fallback}
}

// failureStore is the Store of FailClosed, FailOpen and Fallback.
type failureStore struct {
	store    Store
	onError  func(error)
	open     bool  // allow the event when store fails
	fallback Store // decides when store fails, if not nil
	now      func() time.Time

	mu        sync.Mutex
	skipUntil time.Time // store is not called before this time
	lastErr   error     // the failure that started the hold-off
}

func (s *failureStore) Allow(ctx context.Context, key string, rate Rate) (Result, error) {
	if lastErr, skip := s.skipping(); skip && rate.Enabled() {
		return s.onFailure(ctx, key, rate, fmt.Errorf("rate limit store %w: %w", errStoreHeldOff, lastErr))
	}
	result, err := s.store.Allow(ctx, key, rate)
	if err == nil || ctx.Err() != nil || !rate.Enabled() {
		return result, err
	}

	s.mu.Lock()
	s.skipUntil = s.clock().Add(failureHoldOff)
	s.lastErr = err
	s.mu.Unlock()
	if s.onError != nil {
		s.onError(err)
	}
	return s.onFailure(ctx, key, rate, err)
}

// skipping reports whether store failed less than failureHoldOff ago, and
// that failure.
func (s *failureStore) skipping() (error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr, s.clock().Before(s.skipUntil)
}

func (s *failureStore) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// onFailure applies the wrapper's policy to an event that store could not
// decide.
func (s *failureStore) onFailure(ctx context.Context, key string, rate Rate, err error) (Result, error) {
	switch {
	case s.fallback != nil:
		return s.fallback.Allow(ctx, key, rate)
	case s.open:
		return Result{Allowed: true}, nil
	default:
		return Result{}, err
	}
}
