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
// error responses as *Error, which the Is* predicates classify.
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
// The client fetches an access token on first use, reuses it until shortly
// before it expires and then fetches a new one. However many goroutines need a
// token at once, only one token request is in flight.
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
	// within the caller's context. Zero means 10 seconds.
	Timeout time.Duration

	// Now returns the current time. Nil means time.Now. It decides when the
	// cached access token is replaced, and tests set it to move time by hand.
	Now func() time.Time

	// DefaultTokenLifetime is the lifetime assumed for an access token whose
	// response has no expires_in field. Zero means 5 minutes. That is safe
	// because it is shorter than both lifetimes Live Hub documents (900 s in
	// its example response, one hour in its prose), so the client replaces
	// such a token early rather than late. If a token still dies sooner, the
	// 401 retry in GenerateAuthenticationCode fetches a new one.
	DefaultTokenLifetime time.Duration

	mu       sync.Mutex
	cached   *accessToken // nil when no token is held
	inflight *tokenFetch  // nil when no token request is running

	defaultHTTPOnce sync.Once
	defaultHTTP     *http.Client
}

// GenerateAuthenticationCode requests a click-to-call authentication code
// from Live Hub for the SIP connection sipConnectionID. When callerPhone is
// not empty, it is sent as the E.164 number that Live Hub asserts for the
// caller. An empty sipConnectionID is rejected before any request.
//
// If Live Hub rejects the access token with 401, the client drops the token,
// fetches a new one and retries once. Errors from Live Hub are *Error values.
func (c *Client) GenerateAuthenticationCode(ctx context.Context, sipConnectionID, callerPhone string) (string, error) {
	if err := checkSIPConnectionID(sipConnectionID); err != nil {
		return "", err
	}
	body, err := json.Marshal(generateRequest{CallerPhone: callerPhone})
	if err != nil {
		return "", fmt.Errorf("livehub: encode generate request: %w", err)
	}

	token, err := c.token(ctx)
	if err != nil {
		return "", err
	}
	code, err := c.generate(ctx, token, sipConnectionID, body)
	if !isGenerateStatus(err, http.StatusUnauthorized) {
		return code, err
	}

	// Live Hub no longer accepts the token, for example because it was
	// revoked before its expiry, so replace it and try once more.
	c.dropToken(token)
	token, err = c.token(ctx)
	if err != nil {
		return "", err
	}
	return c.generate(ctx, token, sipConnectionID, body)
}

// Ready reports whether the client can call Live Hub. It returns nil when a
// valid access token is cached or a new one can be obtained now.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.token(ctx)
	return err
}

// InvalidateToken drops the cached access token, so the next call fetches a
// new one. Use it after the client secret was changed in Live Hub.
func (c *Client) InvalidateToken() {
	c.mu.Lock()
	c.cached = nil
	c.mu.Unlock()
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

// generate sends one generate request with token and returns the code.
func (c *Client) generate(ctx context.Context, token *accessToken, sipConnectionID string, body []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()

	endpoint := c.baseURL() + "/api/v1/sipConnections/" + url.PathEscape(sipConnectionID) + "/generateAuthenticationCode"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("livehub: generate authentication code: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token.value)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("livehub: generate authentication code: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return "", fmt.Errorf("livehub: read generate response: %w", err)
	}

	if resp.StatusCode != http.StatusOK {
		return "", c.newError(OpGenerate, resp.StatusCode, resp.Header, data, token.value)
	}
	return parseGenerateResponse(data)
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
