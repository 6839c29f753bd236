// Package headerauth reads the visitor's identity from request headers set
// by a trusted reverse proxy, such as the X-Auth-Request-User header of
// oauth2-proxy.
//
// What it trusts: the proxy, and only the proxy. A visitor can send any
// header, so identity headers count only on requests whose direct peer
// Config.TrustedPeer accepts (usually an address in the configured
// trusted-proxy ranges). From any other peer the headers are ignored and the
// visitor is not signed in. The proxy must in turn remove or overwrite these
// headers on every request it passes on, because this package cannot tell a
// header the proxy set from one the visitor sent through it. Two values of
// one header are the sign of a proxy that appended instead of replacing, so
// they are rejected.
package headerauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/phone"
)

// MaxUserLength bounds the user header's value in bytes, as for every user
// ID.
const MaxUserLength = identity.MaxUserIDLength

// Config configures an Authenticator.
type Config struct {
	// UserHeader names the header that carries the user ID, such as
	// "X-Auth-Request-User". Required.
	UserHeader string

	// PhoneHeader names the header that carries the user's phone number.
	// Empty means the proxy asserts no phone.
	PhoneHeader string

	// TrustedPeer reports whether the direct peer of r (r.RemoteAddr) is a
	// trusted proxy. Required.
	TrustedPeer func(r *http.Request) bool

	// DefaultRegion is the region (such as "US") for phone numbers written
	// without a country code. Empty means such numbers are invalid.
	DefaultRegion string
}

// Authenticator reads identity headers from trusted proxies. It is safe for
// concurrent use if TrustedPeer is.
type Authenticator struct {
	userHeader    string
	phoneHeader   string
	trustedPeer   func(r *http.Request) bool
	defaultRegion string
}

// New validates cfg and returns an Authenticator. It reports every problem
// with cfg at once, each as an *identity.FieldError, joined with
// errors.Join when there are several.
func New(cfg Config) (*Authenticator, error) {
	var problems []error
	switch {
	case cfg.UserHeader == "":
		problems = append(problems, configError("UserHeader", "is required"))
	case !httpguts.ValidHeaderFieldName(cfg.UserHeader):
		problems = append(problems, configError("UserHeader", "%q is not a valid header name", cfg.UserHeader))
	}
	if cfg.PhoneHeader != "" && !httpguts.ValidHeaderFieldName(cfg.PhoneHeader) {
		problems = append(problems, configError("PhoneHeader", "%q is not a valid header name", cfg.PhoneHeader))
	}
	if cfg.UserHeader != "" && http.CanonicalHeaderKey(cfg.UserHeader) == http.CanonicalHeaderKey(cfg.PhoneHeader) {
		problems = append(problems, &identity.FieldError{Package: "headerauth", Fields: []string{"UserHeader", "PhoneHeader"}, Problem: fmt.Sprintf("are both %q", cfg.UserHeader)})
	}
	if cfg.TrustedPeer == nil {
		problems = append(problems, configError("TrustedPeer", "is required, because identity headers count only from trusted proxies"))
	}
	if cfg.DefaultRegion != "" && !phone.ValidRegion(cfg.DefaultRegion) {
		problems = append(problems, configError("DefaultRegion", "%q is not a known region code", cfg.DefaultRegion))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	a := &Authenticator{
		userHeader:    http.CanonicalHeaderKey(cfg.UserHeader),
		trustedPeer:   cfg.TrustedPeer,
		defaultRegion: cfg.DefaultRegion,
	}
	if cfg.PhoneHeader != "" {
		a.phoneHeader = http.CanonicalHeaderKey(cfg.PhoneHeader)
	}
	return a, nil
}

// configError returns a problem with the Config field named field.
func configError(field, format string, args ...any) error {
	return &identity.FieldError{Package: "headerauth", Fields: []string{field}, Problem: fmt.Sprintf(format, args...)}
}

// Authenticate returns the identity in r's headers. It returns an error
// wrapping identity.ErrUnauthenticated when r does not come from a trusted
// peer, when the user header is missing, empty, repeated, longer than
// MaxUserLength or contains control characters, or when the phone header is
// repeated. An invalid phone number in a single phone header gives an error
// that does not wrap it, because the proxy is misconfigured and signing in
// again would not help the visitor.
func (a *Authenticator) Authenticate(r *http.Request) (identity.Identity, error) {
	if !a.trustedPeer(r) {
		return identity.Identity{}, fmt.Errorf("%w: request does not come from a trusted proxy", identity.ErrUnauthenticated)
	}

	users := r.Header.Values(a.userHeader)
	switch {
	case len(users) == 0 || strings.TrimSpace(users[0]) == "":
		return identity.Identity{}, fmt.Errorf("%w: no %s header", identity.ErrUnauthenticated, a.userHeader)
	case len(users) > 1:
		return identity.Identity{}, fmt.Errorf("%w: %d %s headers, want one", identity.ErrUnauthenticated, len(users), a.userHeader)
	}
	user := users[0]
	if err := identity.CheckUserID(user); err != nil {
		return identity.Identity{}, fmt.Errorf("%w: %s header: %w", identity.ErrUnauthenticated, a.userHeader, err)
	}

	if a.phoneHeader == "" {
		return identity.Identity{UserID: user}, nil
	}
	phones := r.Header.Values(a.phoneHeader)
	switch {
	case len(phones) == 0 || strings.TrimSpace(phones[0]) == "":
		return identity.Identity{UserID: user}, nil
	case len(phones) > 1:
		return identity.Identity{}, fmt.Errorf("%w: %d %s headers, want one", identity.ErrUnauthenticated, len(phones), a.phoneHeader)
	}
	e164, err := phone.Normalize(phones[0], a.defaultRegion)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("header auth: %s header from the proxy: %w", a.phoneHeader, err)
	}
	return identity.Identity{UserID: user, Phone: e164}, nil
}
