// Package livehub is a client for the AudioCodes Live Hub REST API. It obtains
// OAuth 2.0 access tokens with the client credentials grant and requests
// click-to-call authentication codes, which are valid for one minute and
// can be used once.
//
// Live Hub documents the access token lifetime inconsistently. Its prose
// states that a token is valid for one hour, while its example token response
// carries "expires_in": 900. The client therefore trusts the expires_in field of each
// response and never assumes a fixed lifetime.
//
// The package never logs. Failures are returned as errors, and Live Hub's HTTP
// error responses as *Error, which the Is* predicates classify. A call that
// the client fails without sending a request, to spare a Live Hub that is
// failing or has requested a pause, returns an error that wraps
// ErrTokenBackoff or ErrThrottled together with the *Error that caused it.
// Client.Observer reports retries, token requests and every request's
// outcome, for a program that logs and counts them.
package livehub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is the address of Live Hub's public API.
const DefaultBaseURL = "https://livehub.audiocodes.io"

const (
	defaultTimeout       = 10 * time.Second
	defaultTokenLifetime = 5 * time.Minute

	// maxBodySize bounds how much of a response body the client reads and
	// keeps. A success response is a JSON object with one short string, so
	// anything larger is treated as invalid.
	maxBodySize = 4 << 10
)

// ErrInvalidResponse is wrapped by the error returned when Live Hub responds
// with a success status but a body the client cannot use.
var ErrInvalidResponse = errors.New("livehub: invalid response")

// Client calls Live Hub. Its zero value with ClientID and ClientSecret set is
// usable. A Client is safe for concurrent use and must not be copied after
// first use. Its exported fields must not be changed after first use.
//
// # Access tokens
//
// The client fetches an access token on first use and reuses it. From three
// quarters of the token's lifetime on, the first call that notices starts a
// token request in the background and every call goes on with the cached
// token, so in steady state no call waits for a token. A token is never used
// within its refresh margin before expiry, which is a tenth of its lifetime
// and at most one minute. Calls that need a token then wait for the token
// request in flight, and only one is in flight however many calls wait.
//
// After a failed token request the client sends no other for 100 ms, a pause
// that doubles after each further failure up to 800 ms, so a recovered token
// endpoint is used again within a second. A 429 or 503 response from the
// token endpoint with a Retry-After header, in seconds or as an HTTP date,
// makes the pause that delay when it is longer. That pause lasts at most one
// minute, so a broken header cannot stop token requests for longer. Calls
// that have no usable token meanwhile fail without a token request, with an
// error that wraps ErrTokenBackoff and the last failure. Without a
// TokenStore they fail at once; with one, after at most one look in it. A failed request ahead of time
// leaves the cached token in use until its refresh time.
//
// # Shared access tokens
//
// With a TokenStore, the Client takes its tokens from the store when it can.
// Whenever it would request a token, it first loads the shared one and uses
// it if it is still before its refresh time, or for a request ahead of time
// before its own refresh-ahead time. Otherwise it tries to take the store's
// lock for Timeout plus one second. The holder requests a token, shares it
// and releases the lock. The other Clients look in the store every 50 ms,
// use the token that appears, take the lock when it is free again, and
// request a token themselves once the lease has passed. So one Client requests
// the token that all share, at start, ahead of each expiry and after a
// revocation. A 401 removes the rejected token from the store, unless the
// store holds another by then, and the Client does not take it from the
// store again.
//
// The pause after a failed token request belongs to each Client, because
// the store does not share it. During the pause, a call that has no usable
// token still loads the shared token, at most once every 50 ms by Now, and
// uses it if another Client has shared one that is usable. So a Client whose
// token request drew a 429 sends no other until its pause ends, but it goes
// on serving calls with a token that another Client obtained.
//
// A call to the store that fails, or that takes longer than one second or
// Timeout if that is shorter, is reported to Observer.TokenStore, and the
// Client then requests its own token as it would without a store. So each
// Client goes on working while the store is away, and uses it again on its
// next token request.
//
// # Retries
//
// GenerateAuthenticationCode retries a generate request that failed with a
// network error, a 429 or a 5xx status, up to MaxAttempts requests in all.
// Before the nth retry it waits a random time from zero to 50 ms·2^(n-1), at
// most 1 s, or the delay that the Retry-After header of a 429 or 503 requests.
// It never starts a wait that would end after the context's deadline, and a
// wait ends when the context is done. Retries draw from RetryBudget, which
// the calls of one Client share. Other 4xx statuses are not retried, except
// that a 401 replaces the access token and repeats the request once.
//
// A 429 or 503 response with Retry-After closes a throttle gate for that
// delay. Meanwhile calls fail at once, without a request, with an error that
// wraps ErrThrottled. Then a single call probes Live Hub while the others
// still fail at once. The probe's response opens the gate, unless it is
// another 429 or 503 with Retry-After, which closes the gate again. The call
// that got the response which closed the gate waits and sends the probe
// itself when the delay fits before its deadline and within MaxRetryWait.
type Client struct {
	// BaseURL is the scheme and host of the Live Hub API, without a path.
	// Empty means DefaultBaseURL. A trailing slash is ignored.
	BaseURL string

	// ClientID and ClientSecret are the credentials of an API client created
	// in Live Hub's IAM pages.
	ClientID     string
	ClientSecret string

	// HTTPClient sends the requests. Nil means a client of this package with
	// transport timeouts and no redirects, because following a redirect could
	// hand the access token to another host. A caller-supplied client keeps
	// its own redirect policy and Timeout, and the shorter of its Timeout and
	// the Timeout field below applies.
	HTTPClient *http.Client

	// Timeout bounds each HTTP request, a token request or a generate request,
	// within the caller's context. Zero means 10 seconds. A token request
	// runs apart from the context of the calls that wait for it, so Timeout
	// alone bounds it.
	Timeout time.Duration

	// Now returns the current time. Nil means time.Now. It decides when the
	// cached access token is replaced, when the token backoff and the
	// throttle gate's pause end, and how the retry budget refills, so tests
	// set it to move time by hand. Waits before a retry use real timers.
	Now func() time.Time

	// DefaultTokenLifetime is the lifetime assumed for an access token whose
	// response has no expires_in field. Zero means 5 minutes. That is safe
	// because it is shorter than both lifetimes Live Hub documents (900 s in
	// its example response, one hour in its prose), so the client replaces
	// such a token early rather than late. If a token still dies sooner, the
	// 401 retry in GenerateAuthenticationCode fetches a new one.
	DefaultTokenLifetime time.Duration

	// MaxAttempts is the largest number of generate requests one call sends
	// for network errors, 429 and 5xx responses, the first request included.
	// Zero means 3, and 1 turns these retries off. The repeat after a 401 is
	// not counted.
	MaxAttempts int

	// MaxRetryWait is the longest wait before one retry. The call returns
	// the error of a response whose Retry-After is longer, and the error's
	// RetryAfter gives its caller the time to try again. Zero means 2
	// seconds, because a visitor who waits longer gains little over trying
	// again.
	MaxRetryWait time.Duration

	// RetryBudget limits the retries of all calls together. The zero value
	// means its defaults.
	RetryBudget RetryBudget

	// Random returns a pseudo-random number in [0, 1) that sets each backoff
	// wait. Nil means math/rand/v2's Float64. It must be safe for concurrent
	// use.
	Random func() float64

	// Observer receives retries, token requests and the outcome of every
	// request to Live Hub, for logging and metrics. Nil means none.
	Observer *Observer

	// TokenStore, when set, shares access tokens with other Clients, such
	// as the other replicas of a program. Nil means that the Client
	// requests its own tokens. The Client documentation describes how it
	// is used.
	TokenStore TokenStore

	secretMu sync.Mutex
	secret   string // set by SetClientSecret; empty means ClientSecret

	mu            sync.Mutex
	cached        *accessToken // nil when no token is held
	inflight      *tokenFetch  // nil when no token request is running
	fetchErr      error        // error of the last token request, nil after a success
	fetchFailures int          // failed token requests in a row
	fetchRetryAt  time.Time    // no token request before this time, by Now
	storeCheckAt  time.Time    // during the pause, no TokenStore check before this time, by Now
	rejected      string       // the last token dropped, which loadShared skips

	gate        throttleGate
	retryBudget retryBudgetState

	defaultHTTPOnce sync.Once
	defaultHTTP     *http.Client
}

// GenerateAuthenticationCode requests a click-to-call authentication code
// from Live Hub for the SIP connection sipConnectionID. When callerPhone is
// not empty, it is sent as the E.164 number that Live Hub asserts for the
// caller. An empty sipConnectionID is rejected before any request.
//
// Errors from Live Hub are *Error values, possibly wrapped. The Client
// documentation describes the retries. When ctx is done, the request in
// flight and any wait stop, and the call returns an error that wraps ctx's
// error.
func (c *Client) GenerateAuthenticationCode(ctx context.Context, sipConnectionID, callerPhone string) (string, error) {
	if err := checkSIPConnectionID(sipConnectionID); err != nil {
		return "", err
	}
	body, err := json.Marshal(generateRequest{CallerPhone: callerPhone})
	if err != nil {
		return "", fmt.Errorf("livehub: encode generate request: %w", err)
	}

	var (
		sent          int    // generate requests sent
		failures      int    // retryable failures among them
		tokenReplaced bool   // whether a 401 already replaced the token
		ticket        uint64 // the throttle gate's probe slot, when reserved
	)
	defer func() { c.gate.release(ticket) }()
	for {
		probe, err := c.gate.admit(c.now(), ticket)
		ticket = 0
		if err != nil {
			return "", err
		}
		token, err := c.token(ctx)
		if err != nil {
			c.gate.abandon(probe)
			return "", err
		}

		if sent == 0 {
			c.depositRetry()
		}
		sent++
		code, retryable, err := c.generate(ctx, token, sipConnectionID, body, probe)
		if err == nil {
			return code, nil
		}

		if isGenerateStatus(err, http.StatusUnauthorized) && !tokenReplaced {
			// Live Hub no longer accepts the token, for example because it
			// was revoked before its expiry, so replace it and try once more.
			tokenReplaced = true
			if c.dropToken(token) && c.TokenStore != nil {
				c.invalidateShared(ctx, token.value)
			}
			c.observeRetry(ctx, RetryEvent{Op: OpGenerate, Attempt: sent + 1, Err: err})
			continue
		}
		if !retryable || ctx.Err() != nil {
			return "", err
		}

		failures++
		var wait time.Duration
		var ok bool
		wait, ticket, ok = c.planRetry(ctx, err, failures)
		if !ok {
			return "", err
		}
		c.observeRetry(ctx, RetryEvent{Op: OpGenerate, Attempt: sent + 1, Err: err, Wait: wait})
		if waitErr := sleep(ctx, wait); waitErr != nil {
			return "", fmt.Errorf("livehub: stopped waiting to retry generate request: %w; last error: %w", waitErr, err)
		}
	}
}

// Ready reports whether the client can call Live Hub. It returns nil when a
// valid access token is cached or a new one can be obtained now. During the
// backoff after a failed token request it returns an error that wraps
// ErrTokenBackoff and the failure, without a token request.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.token(ctx)
	return err
}

// InvalidateToken drops the cached access token and ends any token backoff,
// so the next call fetches a new token at once. With a TokenStore, that
// call may take a token from the store, but not the dropped one. Use it
// after the client secret was changed in Live Hub.
func (c *Client) InvalidateToken() {
	c.mu.Lock()
	if c.cached != nil {
		c.rejected = c.cached.value
	}
	c.cached = nil
	c.fetchFailures, c.fetchRetryAt = 0, time.Time{}
	c.mu.Unlock()
}

// CloseIdleConnections closes the idle connections of the HTTP client the
// Client sends its requests with. Connections in use are not interrupted.
func (c *Client) CloseIdleConnections() {
	c.httpClient().CloseIdleConnections()
}

type generateRequest struct {
	CallerPhone string `json:"callerPhone,omitempty"`
}

type generateResponse struct {
	AuthenticationCode *string `json:"authenticationCode"`
}

// checkSIPConnectionID rejects IDs that cannot name a SIP connection in a
// request path. The dot segments would escape the sipConnections collection
// if a server or proxy on the way normalised the path.
func checkSIPConnectionID(id string) error {
	switch id {
	case "":
		return errors.New("livehub: SIP connection ID is empty")
	case ".", "..":
		return fmt.Errorf("livehub: invalid SIP connection ID %q", id)
	}
	return nil
}

// generate sends one generate request with token and returns the code. It
// reports whether the error is one that sending the request again may cure:
// a network error, a 429 or a 5xx response. It records the result with the
// throttle gate, whose probe the request is when probe is true, before it
// reports it to the Observer.
func (c *Client) generate(ctx context.Context, token *accessToken, sipConnectionID string, body []byte, probe bool) (code string, retryable bool, err error) {
	began := time.Now()
	status := 0
	defer func() {
		c.gate.record(c.now(), probe, err)
		c.observeUpstream(ctx, UpstreamEvent{Op: OpGenerate, StatusCode: status, Duration: time.Since(began), Err: err})
	}()

	requestCtx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()

	endpoint := c.baseURL() + "/api/v1/sipConnections/" + url.PathEscape(sipConnectionID) + "/generateAuthenticationCode"
	req, err := http.NewRequestWithContext(requestCtx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", false, fmt.Errorf("livehub: generate authentication code: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token.value)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", true, fmt.Errorf("livehub: generate authentication code: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		// The response broke off, so it counts as a network error.
		return "", true, fmt.Errorf("livehub: read generate response: %w", err)
	}
	status = resp.StatusCode

	if resp.StatusCode != http.StatusOK {
		return "", retryableStatus(resp.StatusCode), c.newError(OpGenerate, resp.StatusCode, resp.Header, data, token.value)
	}
	code, err = parseGenerateResponse(data)
	return code, false, err
}

// parseGenerateResponse extracts the code from a 200 response body.
func parseGenerateResponse(data []byte) (string, error) {
	if len(data) > maxBodySize {
		return "", fmt.Errorf("%w: generate response is larger than %d bytes", ErrInvalidResponse, maxBodySize)
	}
	var resp generateResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return "", fmt.Errorf("%w: decode generate response: %w", ErrInvalidResponse, err)
	}
	if resp.AuthenticationCode == nil || *resp.AuthenticationCode == "" {
		return "", fmt.Errorf("%w: generate response has no authenticationCode", ErrInvalidResponse)
	}
	return *resp.AuthenticationCode, nil
}

func (c *Client) baseURL() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return defaultTimeout
	}
	return c.Timeout
}

func (c *Client) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	c.defaultHTTPOnce.Do(func() { c.defaultHTTP = newDefaultHTTPClient() })
	return c.defaultHTTP
}

// newDefaultHTTPClient builds a client with its own connection pool. It has no
// overall Timeout because every request carries a context deadline, and the
// transport limits only guard against a peer that stalls one phase.
func newDefaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		// A busy backend sends many concurrent requests to the one Live Hub
		// host, far more than the standard library's default of 2 idle
		// connections per host.
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// SetClientSecret replaces the client secret for later token requests, for
// a secret rotated in Live Hub's IAM pages. The cached access token stays
// in use until it is refreshed or Live Hub rejects it. It is safe to call
// while other goroutines use the client.
func (c *Client) SetClientSecret(secret string) {
	c.secretMu.Lock()
	defer c.secretMu.Unlock()
	c.secret = secret
}

// clientSecret returns the secret set by SetClientSecret, or ClientSecret.
func (c *Client) clientSecret() string {
	c.secretMu.Lock()
	defer c.secretMu.Unlock()
	if c.secret != "" {
		return c.secret
	}
	return c.ClientSecret
}
