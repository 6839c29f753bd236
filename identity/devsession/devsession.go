// Package devsession signs a development user in with a session cookie.
//
// It exists so that every policy of the auth-code endpoint can be tried on a
// laptop without a real identity provider: `c2cauth dev` uses it behind
// POST /dev/login. The cookie carries the user and phone in clear text with
// an HMAC-SHA256 signature under a key that lives only in the process, so
// sessions end when the process stops. It is not meant for production sign-in.
package devsession

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/c2cauth/c2cauth/identity"
)

// CookieName is the name of the session cookie.
const CookieName = "c2cauth_dev_session"

// DefaultTTL is how long a session lasts when Manager.TTL is zero.
const DefaultTTL = 12 * time.Hour

// maxCookieLength bounds the cookie value that is decoded and verified.
const maxCookieLength = 1024

// Manager issues and verifies session cookies. It is safe for concurrent use.
type Manager struct {
	key []byte

	// TTL is how long a session lasts; zero means DefaultTTL.
	TTL time.Duration

	// Secure marks the cookie for HTTPS only. Development servers usually
	// run plain HTTP on loopback, so it is off by default.
	Secure bool

	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// New returns a Manager with a random 256-bit signing key.
func New() (*Manager, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate session key: %w", err)
	}
	return &Manager{key: key}, nil
}

// session is the signed cookie payload.
type session struct {
	User    string `json:"u"`
	Phone   string `json:"p,omitempty"`
	Expires int64  `json:"e"`
}

// SignIn sets a session cookie for id on w. The caller validates id first.
func (m *Manager) SignIn(w http.ResponseWriter, id identity.Identity) error {
	value, expires, err := m.Token(id)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(m.ttl().Seconds()),
		HttpOnly: true,
		Secure:   m.Secure,
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// Token returns a signed session for id and its expiry. The same value works
// as the session cookie and as a bearer token (Authorization: Bearer), which
// stands for the tokens of sites that sign users in without cookies.
func (m *Manager) Token(id identity.Identity) (string, time.Time, error) {
	if id.UserID == "" {
		return "", time.Time{}, errors.New("sign in: empty user ID")
	}
	expires := m.now().Add(m.ttl())
	payload, err := json.Marshal(session{User: id.UserID, Phone: id.Phone, Expires: expires.Unix()})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign in: %w", err)
	}
	encoded := base64.RawURLEncoding.EncodeToString(payload)
	value := encoded + "." + base64.RawURLEncoding.EncodeToString(m.sign(encoded))
	if len(value) > maxCookieLength {
		return "", time.Time{}, errors.New("sign in: session too large for a cookie")
	}
	return value, expires, nil
}

// SignOut clears the session cookie.
func (m *Manager) SignOut(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   m.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}

// Authenticate returns the identity in the request's bearer token or, when
// the request has no Authorization header, its session cookie. A missing,
// tampered, malformed or expired session gives an error wrapping
// identity.ErrUnauthenticated.
func (m *Manager) Authenticate(r *http.Request) (identity.Identity, error) {
	var value string
	if authorization := r.Header.Get("Authorization"); authorization != "" {
		scheme, token, ok := strings.Cut(authorization, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return identity.Identity{}, fmt.Errorf("%w: the Authorization header is not a bearer token", identity.ErrUnauthenticated)
		}
		value = strings.TrimSpace(token)
	} else {
		cookie, err := r.Cookie(CookieName)
		if err != nil {
			return identity.Identity{}, fmt.Errorf("%w: no session cookie or bearer token", identity.ErrUnauthenticated)
		}
		value = cookie.Value
	}
	s, err := m.verify(value)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("%w: %w", identity.ErrUnauthenticated, err)
	}
	return identity.Identity{UserID: s.User, Phone: s.Phone}, nil
}

func (m *Manager) verify(value string) (session, error) {
	if len(value) > maxCookieLength {
		return session{}, errors.New("session cookie too long")
	}
	encoded, signature, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, errors.New("malformed session cookie")
	}
	got, err := base64.RawURLEncoding.DecodeString(signature)
	if err != nil || !hmac.Equal(got, m.sign(encoded)) {
		return session{}, errors.New("invalid session signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return session{}, errors.New("malformed session payload")
	}
	var s session
	if err := json.Unmarshal(payload, &s); err != nil || s.User == "" {
		return session{}, errors.New("malformed session payload")
	}
	if !m.now().Before(time.Unix(s.Expires, 0)) {
		return session{}, errors.New("session expired")
	}
	return s, nil
}

func (m *Manager) sign(encoded string) []byte {
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(encoded))
	return mac.Sum(nil)
}

func (m *Manager) ttl() time.Duration {
	if m.TTL > 0 {
		return m.TTL
	}
	return DefaultTTL
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}
