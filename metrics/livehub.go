package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/c2cauth/c2cauth/livehub"
)

// Observer returns a livehub.Observer that counts the Live Hub client's
// events: each request's duration by operation and status, each token
// request by result and kind, each retry by operation, and the shared token
// store's hits and errors by operation. Set it as the
// client's Observer, or combine it with other observers, such as a logging
// one, with ChainObservers.
func (m *Metrics) Observer() *livehub.Observer {
	return &livehub.Observer{
		Upstream: func(_ context.Context, e livehub.UpstreamEvent) {
			key := upstreamKey{op: operationLabel(e.Op), status: e.StatusCode}
			m.upstreamChildren.get(key, func() prometheus.Observer {
				return m.upstreamDuration.WithLabelValues(key.op, upstreamStatusLabel(key.status))
			}).Observe(e.Duration.Seconds())
		},
		TokenFetch: func(_ context.Context, e livehub.TokenFetchEvent) {
			result := resultOK
			if e.Err != nil {
				result = resultError
			}
			kind := kindForeground
			if e.Background {
				kind = kindBackground
			}
			m.tokenFetches.WithLabelValues(result, kind).Inc()
		},
		Retry: func(_ context.Context, e livehub.RetryEvent) {
			m.retries.WithLabelValues(operationLabel(e.Op)).Inc()
		},
		TokenStore: func(_ context.Context, e livehub.TokenStoreEvent) {
			result := resultHit
			if e.Err != nil {
				result = resultError
			}
			m.tokenStore.WithLabelValues(storeOperationLabel(e.Op), result).Inc()
		},
	}
}

// upstreamKey identifies the series of one Live Hub request: a bounded
// operation label and the status, which is an HTTP status or 0.
type upstreamKey struct {
	op     string
	status int
}

// ChainObservers returns an Observer that passes each event to every
// observer in turn, in the order given. Nil observers and nil callbacks are
// skipped, and a callback is nil in the result when no observer has one.
// The chain costs one direct call per observer and event.
func ChainObservers(observers ...*livehub.Observer) *livehub.Observer {
	// A callback field added to livehub.Observer must be added here too;
	// TestChainObserversChainsEveryField fails until it is.
	return &livehub.Observer{
		Retry:      chain(observers, func(o *livehub.Observer) func(context.Context, livehub.RetryEvent) { return o.Retry }),
		TokenFetch: chain(observers, func(o *livehub.Observer) func(context.Context, livehub.TokenFetchEvent) { return o.TokenFetch }),
		Upstream:   chain(observers, func(o *livehub.Observer) func(context.Context, livehub.UpstreamEvent) { return o.Upstream }),
		TokenStore: chain(observers, func(o *livehub.Observer) func(context.Context, livehub.TokenStoreEvent) { return o.TokenStore }),
	}
}

// chain returns a callback that calls the callback that field picks from
// each observer, or nil when none has one.
func chain[E any](observers []*livehub.Observer, field func(*livehub.Observer) func(context.Context, E)) func(context.Context, E) {
	var callbacks []func(context.Context, E)
	for _, o := range observers {
		if o == nil {
			continue
		}
		if callback := field(o); callback != nil {
			callbacks = append(callbacks, callback)
		}
	}
	switch len(callbacks) {
	case 0:
		return nil
	case 1:
		return callbacks[0]
	}
	return func(ctx context.Context, e E) {
		for _, callback := range callbacks {
			callback(ctx, e)
		}
	}
}
