package livehub

import (
	"context"
	"errors"
	"fmt"
	"math"
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

	// refresh is when the client stops using the token and fetches another.
	refresh time.Time
}

// tokenFetch is one token request shared by every goroutine that waits for
// it. The fields other than done are written before done is closed.
type tokenFetch struct {
	done  chan struct{}
	token *accessToken
	err   error
}

// refreshMargin returns how long before expiry the client stops using a token
// of the given lifetime: a tenth of the lifetime, at most one minute. The
// margin covers the time a generate request spends in flight. It is positive
// for any lifetime of a second or more, which every expires_in is, so the
// client stops using a token before its expiry by Client.Now. A 900 s token
// is used for 840 s, a one-hour token for 59 minutes.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(time.Minute, lifetime/10)
}

// token returns a usable access token, from the cache or from a token request.
// Only one token request runs at a time. It runs on a context detached from
// ctx, so a caller that stops waiting does not cancel it for the others.
func (c *Client) token(ctx context.Context) (*accessToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("livehub: get access token: %w", err)
	}

	c.mu.Lock()
	if t := c.cached; t != nil && c.now().Before(t.refresh) {
		c.mu.Unlock()
		return t, nil
	}
	fetch := c.inflight
	if fetch == nil {
		fetch = &tokenFetch{done: make(chan struct{})}
		c.inflight = fetch
		go c.runFetch(context.WithoutCancel(ctx), fetch)
	}
	c.mu.Unlock()

	select {
	case <-fetch.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("livehub: wait for access token: %w", ctx.Err())
	}
	if fetch.err != nil {
		return nil, fetch.err
	}

	// Only a lifetime shorter than the token request itself gets here.
	if !c.now().Before(fetch.token.expiry) {
		return nil, errors.New("livehub: access token expired before use because its lifetime is shorter than the token request took")
	}
	return fetch.token, nil
}

// runFetch performs fetch, caches a successful result and wakes the waiters.
// A failure is not cached, so the next call sends a new token request.
func (c *Client) runFetch(ctx context.Context, fetch *tokenFetch) {
	token, err := c.fetchToken(ctx)

	c.mu.Lock()
	if err == nil {
		c.cached = token
	}
	c.inflight = nil
	c.mu.Unlock()

	fetch.token, fetch.err = token, err
	close(fetch.done)
}

// dropToken removes token from the cache unless another goroutine has
// already replaced it.
func (c *Client) dropToken(token *accessToken) {
	c.mu.Lock()
	if c.cached == token {
		c.cached = nil
	}
	c.mu.Unlock()
}

// fetchToken sends one token request. Live Hub documents the client ID and
// secret in the form body, not in an HTTP Basic header.
func (c *Client) fetchToken(ctx context.Context) (*accessToken, error) {
	if c.ClientID == "" {
		return nil, errors.New("livehub: client ID is empty")
	}
	if c.ClientSecret == "" {
		return nil, errors.New("livehub: client secret is empty")
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	// x/oauth2 takes its HTTP client only from a context value.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.httpClient())
	config := clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     c.baseURL() + "/oauth/token",
		AuthStyle:    oauth2.AuthStyleInParams,
	}

	start := c.now()
	token, err := config.Token(ctx)
	if err != nil {
		return nil, c.tokenError(err)
	}

	lifetime := c.tokenLifetime(token)
	expiry := start.Add(lifetime)
	return &accessToken{
		value:   token.AccessToken,
		expiry:  expiry,
		refresh: expiry.Add(-refreshMargin(lifetime)),
	}, nil
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
