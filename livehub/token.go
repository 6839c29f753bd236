package livehub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// accessToken is a cached access token. The client keeps its own cache rather
// than x/oauth2's reuse, because x/oauth2 measures expiry with time.Now and so
// cannot follow Client.Now.
type accessToken struct {
	value string

	// expiry is when Live Hub stops accepting the token: the time the token
	// request started, by Client.Now, plus the token's lifetime. Measuring
	// from the start rather than the arrival of the response errs early.
	expiry time.Time

	// refresh is when the client stops using the token. A call that needs a
	// token from then on waits for a new one.
	refresh time.Time

	// refreshAhead is when the client starts fetching the next token in the
	// background while it goes on using this one.
	refreshAhead time.Time

	// lifetime is the token's lifetime, which a TokenStore keeps with it.
	lifetime time.Duration
}

// newAccessToken returns the token value with its lifetime measured from
// start, and the times that follow from them.
func newAccessToken(value string, start time.Time, lifetime time.Duration) *accessToken {
	expiry := start.Add(lifetime)
	return &accessToken{
		value:        value,
		expiry:       expiry,
		refresh:      expiry.Add(-refreshMargin(lifetime)),
		refreshAhead: start.Add(refreshAheadAfter(lifetime)),
		lifetime:     lifetime,
	}
}

// tokenFetch is one token request shared by every goroutine that waits for
// it. The fields other than done are written before done is closed.
type tokenFetch struct {
	done       chan struct{}
	token      *accessToken
	err        error
	storeCheck bool // a look in the TokenStore during the pause, not a token request
}

// Token backoff: after n failed token requests in a row, the client sends no
// other before tokenBackoffBase·2^(n-1) has passed, at most tokenBackoffMax.
// The cap keeps a recovered token endpoint in use again within a second.
//
// A 429 or 503 response with Retry-After lengthens the pause to that delay,
// at most MaxRetryAfter.
const (
	tokenBackoffBase = 100 * time.Millisecond
	tokenBackoffMax  = 800 * time.Millisecond
)

// ErrTokenBackoff is wrapped, together with the error of the last token
// request, by the error returned when a call needs an access token while the
// client waits before its next token request because the last one failed.
// When that error is an *Error with a RetryAfter, the wrapped copy's
// RetryAfter is the time left of the pause instead, as for ErrThrottled.
var ErrTokenBackoff = errors.New("livehub: token requests paused")

// refreshMargin returns how long before expiry the client stops using a token
// of the given lifetime: a tenth of the lifetime, at most one minute. The
// margin covers the time a generate request spends in flight. It is positive
// for any lifetime of a second or more, which every expires_in is, so the
// client stops using a token before its expiry by Client.Now. A 900 s token
// is used for 840 s, a one-hour token for 59 minutes.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(time.Minute, lifetime/10)
}

// refreshAheadAfter returns how long after the token request started the
// client fetches the next token in the background: three quarters of the
// lifetime, which is always before the refresh margin begins. A 900 s token
// is replaced in the background from 675 s on.
func refreshAheadAfter(lifetime time.Duration) time.Duration {
	return lifetime / 4 * 3
}

// tokenBackoff returns the pause after failures failed token requests in a
// row.
func tokenBackoff(failures int) time.Duration {
	if failures < 1 {
		return 0
	}
	if failures > 4 {
		return tokenBackoffMax
	}
	return min(tokenBackoffBase<<(failures-1), tokenBackoffMax)
}

// tokenPause returns the pause after failures failed token requests in a
// row, the last of which failed with err: the token backoff, or the
// Retry-After of a 429 or 503 response when that is longer, at most
// MaxRetryAfter. A Retry-After that parseRetryAfter finds invalid is
// zero, so the backoff applies.
func tokenPause(failures int, err error) time.Duration {
	pause := tokenBackoff(failures)
	e, ok := asError(err)
	if !ok || e.Op != OpToken {
		return pause
	}
	if e.StatusCode != http.StatusTooManyRequests && e.StatusCode != http.StatusServiceUnavailable {
		return pause
	}
	return max(pause, min(e.RetryAfter, MaxRetryAfter))
}

// token returns a usable access token, from the cache or from a token request.
//
// Only one token request runs at a time. It runs on a context detached from
// ctx, so a caller that stops waiting does not cancel it for the others. Once
// the cached token is past its refreshAhead time, the first caller to notice
// starts a token request in the background and every caller goes on with the
// cached token until its refresh time. After a failed token request, callers
// that have no usable token fail without a token request until the pause
// has passed. With a TokenStore, one of them looks in the store meanwhile,
// at most once every tokenStorePoll by Client.Now. The callers that arrive
// during that look wait for it, so that all of them can take a token that
// another Client shared.
func (c *Client) token(ctx context.Context) (*accessToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("livehub: get access token: %w", err)
	}
	token, fetch, err := c.tokenOnce(ctx)
	if fetch != nil && fetch.storeCheck && err != nil {
		// The pause may have ended during the look in the store, and then
		// a token request is due rather than the pause's error.
		token, _, err = c.tokenOnce(ctx)
	}
	return token, err
}

// tokenOnce is one pass of token. It also returns the fetch it waited for,
// if any.
func (c *Client) tokenOnce(ctx context.Context) (*accessToken, *tokenFetch, error) {
	c.mu.Lock()
	now := c.now()
	if t := c.cached; t != nil && now.Before(t.refresh) {
		if !now.Before(t.refreshAhead) && c.inflight == nil && !now.Before(c.fetchRetryAt) {
			c.startFetch(ctx, now, true)
		}
		c.mu.Unlock()
		return t, nil, nil
	}
	fetch := c.inflight
	switch {
	case fetch != nil:
		// Wait for the token request or store check in flight.
	case !now.Before(c.fetchRetryAt):
		fetch = c.startFetch(ctx, now, false)
	case c.TokenStore != nil && !now.Before(c.storeCheckAt):
		c.storeCheckAt = now.Add(tokenStorePoll)
		fetch = c.startStoreCheck(ctx)
	default:
		err := c.backoffError(now)
		c.mu.Unlock()
		return nil, nil, err
	}
	c.mu.Unlock()

	select {
	case <-fetch.done:
	case <-ctx.Done():
		return nil, fetch, fmt.Errorf("livehub: wait for access token: %w", ctx.Err())
	}
	if fetch.err != nil {
		return nil, fetch, fetch.err
	}

	// Only a lifetime shorter than the token request itself gets here.
	if !c.now().Before(fetch.token.expiry) {
		return nil, fetch, errors.New("livehub: access token expired before use because its lifetime is shorter than the token request took")
	}
	return fetch.token, fetch, nil
}

// startFetch starts a token request that measures the token's lifetime from
// start. The caller must hold c.mu.
func (c *Client) startFetch(ctx context.Context, start time.Time, background bool) *tokenFetch {
	fetch := &tokenFetch{done: make(chan struct{})}
	c.inflight = fetch
	go c.runFetch(context.WithoutCancel(ctx), fetch, start, background)
	return fetch
}

// runFetch obtains a token for fetch, from c.TokenStore when there is one
// and otherwise with a token request, caches a successful result and wakes
// the waiters. A failure is not cached, but it starts or lengthens the token
// backoff.
func (c *Client) runFetch(ctx context.Context, fetch *tokenFetch, start time.Time, background bool) {
	var token *accessToken
	var err error
	if c.TokenStore != nil {
		token, err = c.sharedToken(ctx, background)
	} else {
		token, err = c.requestToken(ctx, start, background)
	}

	c.mu.Lock()
	if err == nil {
		c.cached = token
		c.fetchFailures, c.fetchErr, c.fetchRetryAt = 0, nil, time.Time{}
	} else {
		c.fetchFailures++
		c.fetchErr = err
		c.fetchRetryAt = c.now().Add(tokenPause(c.fetchFailures, err))
	}
	c.inflight = nil
	c.mu.Unlock()

	fetch.token, fetch.err = token, err
	close(fetch.done)
}

// startStoreCheck starts a look in c.TokenStore during the pause after a
// failed token request. The caller must hold c.mu.
func (c *Client) startStoreCheck(ctx context.Context) *tokenFetch {
	fetch := &tokenFetch{done: make(chan struct{}), storeCheck: true}
	c.inflight = fetch
	go c.runStoreCheck(context.WithoutCancel(ctx), fetch)
	return fetch
}

// runStoreCheck loads the shared token for fetch and wakes the waiters. It
// sends no token request, because the pause is for Live Hub's sake, while
// another Client may have obtained a token meanwhile. A shared token that
// this Client may use ends the pause as a successful token request does.
// Otherwise the pause goes on unchanged, and the waiters get the backoff
// error.
func (c *Client) runStoreCheck(ctx context.Context, fetch *tokenFetch) {
	token, _ := c.loadShared(ctx, false)

	c.mu.Lock()
	var err error
	if token != nil {
		c.cached = token
		c.fetchFailures, c.fetchErr, c.fetchRetryAt = 0, nil, time.Time{}
	} else {
		err = c.backoffError(c.now())
	}
	c.inflight = nil
	c.mu.Unlock()

	fetch.token, fetch.err = token, err
	close(fetch.done)
}

// backoffError returns the error for a call that needs a token at now,
// during the pause after a failed token request. The caller must hold c.mu.
func (c *Client) backoffError(now time.Time) error {
	left := max(c.fetchRetryAt.Sub(now), 0)
	cause := c.fetchErr
	if e, ok := asError(cause); ok && e.RetryAfter > 0 {
		// Callers pass RetryAfter on, so it states when this Client will
		// send a token request again, which a capped Retry-After or the
		// time already waited makes shorter than the response's.
		copied := *e
		copied.RetryAfter = left
		cause = &copied
	}
	return fmt.Errorf("%w for %v after a failed token request: %w", ErrTokenBackoff, left, cause)
}

// requestToken sends one token request, measures the token's lifetime from
// start and reports the request to the Observer.
func (c *Client) requestToken(ctx context.Context, start time.Time, background bool) (*accessToken, error) {
	began := time.Now()
	token, err := c.fetchToken(ctx, start)
	c.observeTokenFetch(ctx, TokenFetchEvent{Err: err, Duration: time.Since(began), Background: background})
	return token, err
}

// dropToken removes token, which Live Hub rejected, from the cache unless
// another goroutine has already replaced it, and reports whether it did.
// The Client does not take a dropped token from c.TokenStore again.
func (c *Client) dropToken(token *accessToken) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached != token {
		return false
	}
	c.cached = nil
	c.rejected = token.value
	return true
}

// fetchToken sends one token request and measures the token's lifetime from
// start. Live Hub documents the client ID and secret in the form body, not in
// an HTTP Basic header.
func (c *Client) fetchToken(ctx context.Context, start time.Time) (*accessToken, error) {
	if c.ClientID == "" {
		return nil, errors.New("livehub: client ID is empty")
	}
	secret := c.clientSecret()
	if secret == "" {
		return nil, errors.New("livehub: client secret is empty")
	}

	// A copy of the HTTP client whose transport records the response status
	// for the Observer, which x/oauth2 does not report on success.
	httpClient := *c.httpClient()
	recorder := &statusRecorder{next: httpClient.Transport}
	if recorder.next == nil {
		recorder.next = http.DefaultTransport
	}
	httpClient.Transport = recorder

	requestCtx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	// x/oauth2 takes its HTTP client only from a context value.
	requestCtx = context.WithValue(requestCtx, oauth2.HTTPClient, &httpClient)
	config := clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: secret,
		TokenURL:     c.baseURL() + "/oauth/token",
		AuthStyle:    oauth2.AuthStyleInParams,
	}

	began := time.Now()
	token, err := config.Token(requestCtx)
	if err != nil {
		err = c.tokenError(err)
	}
	c.observeUpstream(ctx, UpstreamEvent{Op: OpToken, StatusCode: recorder.status, Duration: time.Since(began), Err: err})
	if err != nil {
		return nil, err
	}

	return newAccessToken(token.AccessToken, start, c.tokenLifetime(token)), nil
}

// statusRecorder is a transport that records the status of the last response
// that passed through it. One token request uses it from one goroutine.
type statusRecorder struct {
	next   http.RoundTripper
	status int
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.status = resp.StatusCode
	}
	return resp, err
}

// tokenError converts an error of x/oauth2 into an *Error when the token
// endpoint sent an error response, and wraps it otherwise.
func (c *Client) tokenError(err error) error {
	var retrieveErr *oauth2.RetrieveError
	if !errors.As(err, &retrieveErr) || retrieveErr.Response == nil {
		return fmt.Errorf("livehub: token request failed: %w", err)
	}

	e := c.newError(OpToken, retrieveErr.Response.StatusCode, retrieveErr.Response.Header, retrieveErr.Body)
	// x/oauth2 parsed the RFC 6749 fields from the whole body, also when it
	// was form-encoded, so prefer them to what the capped body yields.
	if retrieveErr.ErrorCode != "" {
		e.Code = c.redactString(retrieveErr.ErrorCode)
		e.Description = c.redactString(retrieveErr.ErrorDescription)
	}
	return e
}

// tokenLifetime returns the lifetime the token response states in expires_in,
// or DefaultTokenLifetime when it states none. A value that is not positive
// counts as none, as it does in x/oauth2.
func (c *Client) tokenLifetime(token *oauth2.Token) time.Duration {
	seconds := token.ExpiresIn
	if seconds <= 0 {
		// In x/oauth2 v0.38.0, clientcredentials does not copy ExpiresIn
		// into the token it returns, but it keeps the raw response fields.
		seconds = expiresInSeconds(token.Extra("expires_in"))
	}
	if seconds <= 0 {
		if c.DefaultTokenLifetime > 0 {
			return c.DefaultTokenLifetime
		}
		return defaultTokenLifetime
	}
	// x/oauth2 caps expires_in at the same value, about 68 years.
	return time.Duration(min(seconds, math.MaxInt32)) * time.Second
}

// expiresInSeconds converts a raw expires_in value, which is a float64 from a
// JSON number, a string from a JSON string or a form-encoded value, or an
// int64 from a form-encoded value, into whole seconds. It returns 0 when the
// value is absent or not a number.
func expiresInSeconds(v any) int64 {
	switch v := v.(type) {
	case float64:
		if v >= 1 {
			return int64(min(v, math.MaxInt32))
		}
	case int64:
		return v
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	}
	return 0
}
