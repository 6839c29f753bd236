// Package forward checks whether a visitor is signed in by sending a request
// to the site's own endpoint (forward authentication).
//
// For every request the Authenticator sends the visitor's Cookie and
// Authorization headers, and no other header the visitor sent, to a URL the
// operator configured. A 2xx reply names the user in a JSON object, while 401
// and 403 mean the visitor is not signed in. The site keeps its sessions where
// they are, and c2cauth never parses them.
//
// What it trusts: the configured endpoint, completely. Its reply decides who
// the visitor is, so the URL must point at a service the operator controls,
// over https unless it is reached on a private network. Nothing else from the
// visitor reaches the endpoint, so a visitor cannot add a header (such as
// X-Forwarded-User) that the site might believe. A reply that cannot be
// understood never counts as signed in: it fails the check, and the endpoint
// responds 503.
package forward

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/internal/httpstatus"
	"github.com/c2cauth/c2cauth/internal/urls"
	"github.com/c2cauth/c2cauth/phone"
	"github.com/c2cauth/c2cauth/requestid"
)

// DefaultTimeout bounds one check when Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// Default names of the reply's JSON fields.
const (
	DefaultUserField  = "user"
	DefaultPhoneField = "phone"
)

// MaxReplyBytes bounds the reply body that is read and decoded. A reply
// naming a user and a phone needs a few hundred bytes.
const MaxReplyBytes = 16 << 10

// maxRequestIDLength bounds an X-Request-ID passed on from the visitor.
const maxRequestIDLength = 128

// Config configures an Authenticator.
type Config struct {
	// URL is the site's endpoint, an absolute http or https URL. Required.
	// It must not contain a user name or password, because the request's
	// Authorization header belongs to the visitor. Plain http to a host
	// that is not loopback is accepted for an endpoint on a private
	// network, and Authenticator.SendsCredentialsUnencrypted reports it.
	URL string

	// Method is GET or POST. Empty means GET. A POST has an empty body.
	Method string

	// Client sends the requests. Nil means a client that follows no
	// redirects, so a redirect to a login page fails the check instead of
	// being followed with the visitor's cookies.
	Client *http.Client

	// Timeout bounds one check, reply included. Zero means DefaultTimeout.
	Timeout time.Duration

	// UserField names the reply's string field that holds the user ID.
	// Empty means DefaultUserField.
	UserField string

	// PhoneField names the reply's optional string field that holds the
	// user's phone number. Empty means DefaultPhoneField.
	PhoneField string

	// DefaultRegion is the region (such as "US") for phone numbers that the
	// endpoint returns without a country code. Empty means such numbers are
	// invalid.
	DefaultRegion string
}

// Authenticator checks visitors with the site's endpoint. It is safe for
// concurrent use.
type Authenticator struct {
	url           string
	publicURL     string // url without its query, for messages
	unencrypted   bool
	host          string
	method        string
	client        *http.Client
	timeout       time.Duration
	userField     string
	phoneField    string
	defaultRegion string
}

// New validates cfg and returns an Authenticator. It reports every problem
// with cfg at once, each as an *identity.FieldError, joined with
// errors.Join when there are several.
func New(cfg Config) (*Authenticator, error) {
	var problems []error

	var host, publicURL string
	var unencrypted bool
	switch u, err := url.Parse(cfg.URL); {
	case cfg.URL == "":
		problems = append(problems, configError("URL", "is required"))
	case err != nil:
		// The cause alone, because *url.Error repeats the URL with any password in it.
		if urlErr, ok := errors.AsType[*url.Error](err); ok {
			err = urlErr.Err
		}
		problems = append(problems, &identity.FieldError{Package: "forward", Fields: []string{"URL"}, Problem: "is invalid", Err: err})
	case u.Scheme != "http" && u.Scheme != "https":
		problems = append(problems, configError("URL", "%q must start with http:// or https://", urls.Echo(cfg.URL)))
	case u.Host == "":
		problems = append(problems, configError("URL", "%q has no host", urls.Echo(cfg.URL)))
	case u.User != nil:
		problems = append(problems, configError("URL", "must not contain a user name or password"))
	default:
		host, publicURL = u.Host, urls.WithoutSecrets(u)
		unencrypted = u.Scheme == "http" && !urls.IsLoopbackHost(u.Hostname())
	}

	method := strings.ToUpper(cfg.Method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		problems = append(problems, configError("Method", "%q is not GET or POST", cfg.Method))
	}

	if cfg.Timeout < 0 {
		problems = append(problems, configError("Timeout", "%s is negative", cfg.Timeout))
	}
	userField := cmp.Or(cfg.UserField, DefaultUserField)
	phoneField := cmp.Or(cfg.PhoneField, DefaultPhoneField)
	if userField == phoneField {
		problems = append(problems, &identity.FieldError{Package: "forward", Fields: []string{"UserField", "PhoneField"}, Problem: fmt.Sprintf("are both %q", userField)})
	}
	if cfg.DefaultRegion != "" && !phone.ValidRegion(cfg.DefaultRegion) {
		problems = append(problems, configError("DefaultRegion", "%q is not a known region code", cfg.DefaultRegion))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	client := cfg.Client
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Authenticator{
		url:           cfg.URL,
		publicURL:     publicURL,
		unencrypted:   unencrypted,
		host:          host,
		method:        method,
		client:        client,
		timeout:       timeout,
		userField:     userField,
		phoneField:    phoneField,
		defaultRegion: cfg.DefaultRegion,
	}, nil
}

// SendsCredentialsUnencrypted reports whether the endpoint URL is plain
// http to a host other than "localhost" or a loopback IP address, so that
// every check sends the visitor's Cookie and Authorization headers over a
// network without encryption. That is safe only on a private network that
// the operator trusts, such as between containers of one pod. Names are not
// resolved, so a name of a loopback address other than "localhost" counts
// as a network host.
func (a *Authenticator) SendsCredentialsUnencrypted() bool { return a.unencrypted }

// configError returns a problem with the Config field named field.
func configError(field, format string, args ...any) error {
	return &identity.FieldError{Package: "forward", Fields: []string{field}, Problem: fmt.Sprintf(format, args...)}
}

// Authenticate sends the credentials of r to the endpoint and returns the
// identity in its reply. A request with
// neither a Cookie nor an Authorization header is not signed in and is not
// sent, because the endpoint would see an anonymous request. A 401 or 403
// reply gives an error wrapping identity.ErrUnauthenticated. Any other
// failure (a timeout, a network error, a redirect, another status, or a 2xx
// reply without a usable user ID or with an invalid phone) gives an error
// that does not wrap it.
func (a *Authenticator) Authenticate(r *http.Request) (identity.Identity, error) {
	cookies := r.Header.Values("Cookie")
	authorizations := r.Header.Values("Authorization")
	if len(cookies) == 0 && len(authorizations) == 0 {
		return identity.Identity{}, fmt.Errorf("%w: no Cookie or Authorization header", identity.ErrUnauthenticated)
	}

	header := make(http.Header)
	if len(cookies) > 0 {
		header["Cookie"] = slices.Clone(cookies)
	}
	if len(authorizations) > 0 {
		header["Authorization"] = slices.Clone(authorizations)
	}
	if id := requestID(r); id != "" {
		header.Set(requestid.Header, id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	resp, err := a.send(ctx, header)
	if err != nil {
		return identity.Identity{}, a.requestError(r.Context(), ctx, err)
	}
	defer drainAndClose(resp)

	switch {
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		return identity.Identity{}, fmt.Errorf("%w: sign-in endpoint returned status %d", identity.ErrUnauthenticated, resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return identity.Identity{}, redirectError(resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return identity.Identity{}, fmt.Errorf("forward auth: sign-in endpoint returned status %d", resp.StatusCode)
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes+1))
	if err != nil {
		return identity.Identity{}, a.requestError(r.Context(), ctx, fmt.Errorf("read reply: %w", err))
	}
	if len(body) > MaxReplyBytes {
		return identity.Identity{}, fmt.Errorf("forward auth: sign-in endpoint reply is larger than %d bytes", MaxReplyBytes)
	}
	id, err := a.parseReply(body)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("forward auth: sign-in endpoint reply: %w", err)
	}
	return id, nil
}

// Probe sends the endpoint one request without credentials, as a visitor
// who is not signed in would, and returns the status of its reply. It is
// meant for a deploy check: Authenticate never sends such a request. Its
// errors are sentences for the operator that name the endpoint's URL
// without its query, which may hold a secret.
//
// Any 4xx reply returns a nil error, because it turns the anonymous
// request away. The caller may want to flag a 4xx other than 401 and 403,
// which Authenticate would treat as a failed check rather than as "not
// signed in" for a visitor whose session is no longer valid. Probe returns
// an error when the request fails or times out, and when the reply is 2xx
// (the endpoint signs in a request that carries no session), a redirect,
// or any other status.
func (a *Authenticator) Probe(ctx context.Context) (int, error) {
	probeCtx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	resp, err := a.send(probeCtx, make(http.Header))
	if err != nil {
		return 0, a.probeError(ctx, probeCtx, err)
	}
	drainAndClose(resp)

	switch status := resp.StatusCode; {
	case status >= 400 && status < 500:
		return status, nil
	case status >= 200 && status < 300:
		return status, fmt.Errorf("the sign-in endpoint %s responded with %s to a request without credentials, but it must respond with 401 or 403 unless the request names a signed-in visitor", a.publicURL, httpstatus.Text(status))
	case status >= 300 && status < 400:
		return status, fmt.Errorf("the sign-in endpoint %s responded with %s to a request without credentials, but redirects are not followed, so it must respond with 401 or 403", a.publicURL, httpstatus.Text(status))
	default:
		return status, fmt.Errorf("the sign-in endpoint %s responded with %s to a request without credentials", a.publicURL, httpstatus.Text(status))
	}
}

// probeError describes a failed probe request, sent with ctx, a child of
// parent that adds the timeout.
func (a *Authenticator) probeError(parent, ctx context.Context, err error) error {
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		// The cause alone, because *url.Error repeats the URL with its query.
		err = urlErr.Err
	}
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("the check of the sign-in endpoint %s ended before it responded: %w", a.publicURL, context.Cause(parent))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("the sign-in endpoint %s did not respond within %s: %w", a.publicURL, a.timeout, context.DeadlineExceeded)
	default:
		return fmt.Errorf("the request to the sign-in endpoint %s failed: %w", a.publicURL, err)
	}
}

// send sends one request to the endpoint with the credentials in header.
// The caller must close the reply's body.
func (a *Authenticator) send(ctx context.Context, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, a.method, a.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = header
	req.Header.Set("Accept", "application/json")
	return a.client.Do(req)
}

// drainAndClose reads a little of the body, so that the connection can be
// reused, and closes it.
func drainAndClose(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxReplyBytes))
	resp.Body.Close()
}

func redirectError(status int) error {
	return fmt.Errorf("forward auth: sign-in endpoint redirected with status %d; it must return 2xx, 401 or 403", status)
}

// parseReply reads the identity from a 2xx reply body.
func (a *Authenticator) parseReply(body []byte) (identity.Identity, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return identity.Identity{}, errors.New("not a JSON object")
	}

	raw, ok := fields[a.userField]
	if !ok {
		return identity.Identity{}, fmt.Errorf("no %q field", a.userField)
	}
	var user string
	if err := json.Unmarshal(raw, &user); err != nil {
		return identity.Identity{}, fmt.Errorf("field %q is not a string", a.userField)
	}
	if err := identity.CheckUserID(user); err != nil {
		return identity.Identity{}, fmt.Errorf("field %q: %w", a.userField, err)
	}

	raw, ok = fields[a.phoneField]
	if !ok || string(raw) == "null" {
		return identity.Identity{UserID: user}, nil
	}
	var number string
	if err := json.Unmarshal(raw, &number); err != nil {
		return identity.Identity{}, fmt.Errorf("field %q is not a string", a.phoneField)
	}
	if number == "" {
		return identity.Identity{UserID: user}, nil
	}
	e164, err := phone.Normalize(number, a.defaultRegion)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("field %q: %w", a.phoneField, err)
	}
	return identity.Identity{UserID: user, Phone: e164}, nil
}

// requestError describes a failed request to the endpoint, sent with ctx,
// a child of parent that adds the timeout. It drops the URL that
// *url.Error carries, whose query string may hold a secret.
func (a *Authenticator) requestError(parent, ctx context.Context, err error) error {
	if urlErr, ok := errors.AsType[*url.Error](err); ok {
		err = urlErr.Err
	}
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("forward auth: request ended before %q replied: %w", a.host, context.Cause(parent))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("forward auth: %q did not reply within %s: %w", a.host, a.timeout, context.DeadlineExceeded)
	default:
		return fmt.Errorf("forward auth: request to %q failed: %w", a.host, err)
	}
}

// requestID returns the ID that ties the check to the visitor's request:
// the one the requestid middleware stored, or else a well-formed
// X-Request-ID header from the visitor.
func requestID(r *http.Request) string {
	if id := requestid.FromContext(r.Context()); id != "" {
		return id
	}
	id := r.Header.Get(requestid.Header)
	if len(id) > maxRequestIDLength {
		return ""
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c >= 0x7f {
			return ""
		}
	}
	return id
}
