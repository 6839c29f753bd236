package ratelimit

import "context"

// FailClosed returns a Store that decides with store and reports each of its
// errors to onError before returning it, so that the Limiter rejects the
// request. It decides exactly as store does and only adds the report.
//
// Failing closed is the default of every Store, and the safe choice: a
// limiter that lets requests through unchecked lets anyone obtain as many
// codes as they like, and each code can start a paid call (toll fraud).
// FailOpen and Fallback choose otherwise.
//
// All three wrappers send every event to store first, so service returns to
// normal as soon as store works again, without a restart: go-redis, for one,
// reconnects by itself. They return a done context's error, and the error
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
}

func (s *failureStore) Allow(ctx context.Context, key string, rate Rate) (Result, error) {
	result, err := s.store.Allow(ctx, key, rate)
	if err == nil || ctx.Err() != nil || !rate.Enabled() {
		return result, err
	}

	if s.onError != nil {
		s.onError(err)
	}
	switch {
	case s.fallback != nil:
		return s.fallback.Allow(ctx, key, rate)
	case s.open:
		return Result{Allowed: true}, nil
	default:
		return Result{}, err
	}
}
