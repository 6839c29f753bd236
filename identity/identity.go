// Package identity decides who is asking for an authentication code.
//
// The auth-code endpoint calls an Authenticator on every request. Each way a
// site signs its users in (a session it checks itself, a JWT, headers from a
// trusted proxy, or no sign-in at all) is one Authenticator, and a Go program that
// embeds c2cauth can supply its own.
package identity

import (
	"errors"
	"net/http"
)

// Identity is the site user on whose behalf a code is requested.
type Identity struct {
	// UserID names the user for rate limits and audit logs. It is empty
	// only for anonymous visitors, whom limits then count by client IP.
	UserID string

	// Phone is the user's phone number in E.164 form as the site verified
	// it, or empty when the site asserts none.
	Phone string
}

// Anonymous reports whether the identity names no user.
func (id Identity) Anonymous() bool { return id.UserID == "" }

// Authenticator finds the identity behind a request. It must be safe for
// concurrent use.
//
// Authenticate returns an error wrapping ErrUnauthenticated when the request
// carries no valid credentials, so the visitor gets 401. Any other error
// means the identity could not be checked (an identity provider timed out,
// say), and the visitor gets 503: a failed check never counts as signed in.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// ErrUnauthenticated marks a request without valid credentials.
var ErrUnauthenticated = errors.New("not signed in")

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// None accepts every request as an anonymous visitor. It suits public sites
// that let anyone start a call, where per-IP and global limits are the only
// protection, so it must be chosen explicitly.
var None Authenticator = AuthenticatorFunc(func(*http.Request) (Identity, error) {
	return Identity{}, nil
})
