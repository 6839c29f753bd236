package livehub

import (
	"context"
	"time"
)

// Observer receives the client's events so that the program using it can log
// and count them, because the client itself never logs. Each callback may be
// nil, and a nil *Observer means no callbacks.
//
// The client calls the callbacks synchronously from the goroutine doing the
// work, often from many goroutines at once. They must therefore be quick and
// safe for concurrent use. An event never carries the client secret or an
// access token. Its Err is safe to log as Error is, because the client
// replaces both in the response bodies it keeps.
//
// Each callback receives the context of the call that caused the event, so
// values such as a request ID can be read from it. A token request that runs
// in the background, or that several calls wait for, carries the context of
// the call that started it, detached from that call's cancellation.
type Observer struct {
	// Retry is called before the client waits to send a generate request
	// again.
	Retry func(ctx context.Context, e RetryEvent)

	// TokenFetch is called when a token request has finished.
	TokenFetch func(ctx context.Context, e TokenFetchEvent)

	// Upstream is called when a request to Live Hub has finished, a token
	// request or a generate request, whatever its outcome.
	Upstream func(ctx context.Context, e UpstreamEvent)

	// TokenStore is called when a call to Client.TokenStore has failed, and
	// when the client took a token from the store instead of requesting one.
	TokenStore func(ctx context.Context, e TokenStoreEvent)
}

// RetryEvent describes a generate request about to be sent again.
type RetryEvent struct {
	// Op is the operation retried, OpGenerate.
	Op string

	// Attempt is the number of the request about to be sent within one call
	// of GenerateAuthenticationCode, 2 for the first retry.
	Attempt int

	// Err is the error of the previous request, which caused the retry.
	Err error

	// Wait is how long the client waits before the retry: a backoff delay,
	// the delay that Live Hub requested in Retry-After, or zero after a 401.
	Wait time.Duration
}

// TokenFetchEvent describes a finished token request.
type TokenFetchEvent struct {
	// Err is nil when the client got a token, and the error otherwise.
	Err error

	// Duration is how long the token request took, by the real clock.
	Duration time.Duration

	// Background is true for a request started ahead of time while the
	// cached token was still in use, so that no call waited for it when it
	// started.
	Background bool
}

// UpstreamEvent describes a finished request to Live Hub.
type UpstreamEvent struct {
	// Op is the request, OpToken or OpGenerate.
	Op string

	// StatusCode is the HTTP status of the response, or 0 when no complete
	// response arrived, such as after a network error or a timeout.
	StatusCode int

	// Duration is how long the request took, by the real clock.
	Duration time.Duration

	// Err is nil for a successful request, and the error otherwise.
	Err error
}

// TokenStoreEvent describes a failed call to Client.TokenStore, or a token
// taken from it.
type TokenStoreEvent struct {
	// Op is the call: StoreLoad, StoreSave, StoreInvalidate or StoreLock.
	Op string

	// Err is the error of a failed call. It is nil when the client took a
	// token from the store, and Op is then StoreLoad.
	Err error

	// Duration is how long a failed call took, by the real clock.
	Duration time.Duration

	// Background is true when the call served a token request started ahead
	// of time, as in TokenFetchEvent.
	Background bool
}

func (c *Client) observeRetry(ctx context.Context, e RetryEvent) {
	if c.Observer != nil && c.Observer.Retry != nil {
		c.Observer.Retry(ctx, e)
	}
}

func (c *Client) observeTokenFetch(ctx context.Context, e TokenFetchEvent) {
	if c.Observer != nil && c.Observer.TokenFetch != nil {
		c.Observer.TokenFetch(ctx, e)
	}
}

func (c *Client) observeUpstream(ctx context.Context, e UpstreamEvent) {
	if c.Observer != nil && c.Observer.Upstream != nil {
		c.Observer.Upstream(ctx, e)
	}
}

func (c *Client) observeTokenStore(ctx context.Context, e TokenStoreEvent) {
	if c.Observer != nil && c.Observer.TokenStore != nil {
		c.Observer.TokenStore(ctx, e)
	}
}
