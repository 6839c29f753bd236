package metrics

import (
	"context"
	"reflect"

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
			m.upstreamDuration.
				WithLabelValues(operationLabel(e.Op), upstreamStatusLabel(e.StatusCode)).
				Observe(e.Duration.Seconds())
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

// ChainObservers returns an Observer that passes each event to every
// observer in turn, in the order given. Nil observers and nil callbacks are
// skipped, and a callback is nil in the result when no observer has one.
//
// It chains every callback field of livehub.Observer, found by reflection,
// so a callback added to Observer later is chained without a change here.
// A callback with results, which Observer does not have today, cannot be
// chained: the first non-nil one is used.
func ChainObservers(observers ...*livehub.Observer) *livehub.Observer {
	chained := &livehub.Observer{}
	fields := reflect.ValueOf(chained).Elem()
	for i := range fields.NumField() {
		field := fields.Field(i)
		if field.Kind() != reflect.Func || !field.CanSet() {
			continue
		}
		var callbacks []reflect.Value
		for _, o := range observers {
			if o == nil {
				continue
			}
			if callback := reflect.ValueOf(o).Elem().Field(i); !callback.IsNil() {
				callbacks = append(callbacks, callback)
			}
		}

		switch {
		case len(callbacks) == 0:
		case len(callbacks) == 1 || field.Type().NumOut() > 0:
			field.Set(callbacks[0])
		default:
			field.Set(reflect.MakeFunc(field.Type(), func(args []reflect.Value) []reflect.Value {
				for _, callback := range callbacks {
					callback.Call(args)
				}
				return nil
			}))
		}
	}
	return chained
}
