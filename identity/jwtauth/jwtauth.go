// Package jwtauth signs visitors in with JSON Web Tokens from the site's
// identity provider.
//
// The token comes from an "Authorization: Bearer" header or, when
// Config.CookieName is set and that header is absent, from a cookie.
// github.com/golang-jwt/jwt/v5 verifies it against one key: a JSON Web Key
// Set fetched from the provider (through github.com/MicahParks/keyfunc/v3),
// a static public key, or a shared HMAC secret.
//
// What it trusts: the signing keys, within the algorithm allow-list that
// limits how they may be used. A token counts only when its signature verifies with
// an allowed algorithm, its "iss" equals Config.Issuer, its "aud" contains
// Config.Audience, and its "exp", "nbf" and "iat" claims hold within
// Config.Leeway. Its "sub" claim is the user ID. HMAC algorithms are allowed
// only with an HMAC secret, never with public keys, so a token signed with a
// public key as its HMAC secret (the algorithm confusion attack) fails.
//
// The "phone_number" claim is the user's phone only when
// "phone_number_verified" is JSON true, as OpenID Connect defines them. A
// verified number that is not a valid phone number is dropped, and the user
// is signed in without a phone: the provider did sign the token, so it is
// genuine, and a caller phone that cannot be asserted is left out rather
// than guessed.
package jwtauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/net/http/httpguts"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/phone"
)

// Defaults for the zero values of Config fields.
const (
	DefaultLeeway                    = 30 * time.Second
	DefaultRefreshInterval           = time.Hour
	DefaultUnknownKIDRefreshInterval = time.Minute
	DefaultFetchTimeout              = 5 * time.Second
)

// Limits on Config fields.
const (
	// MaxLeeway bounds Leeway, because leeway extends every token's life.
	MaxLeeway = 5 * time.Minute

	// MinRefreshInterval bounds RefreshInterval from below, so that the
	// identity provider is not polled in a tight loop.
	MinRefreshInterval = time.Minute

	// MinUnknownKIDRefreshInterval bounds UnknownKIDRefreshInterval from
	// below, so that forged key IDs cannot make every request fetch.
	MinUnknownKIDRefreshInterval = time.Second
)

// MaxTokenLength bounds the token, in bytes, that is parsed at all.
// Identity providers' access and ID tokens stay well below it.
const MaxTokenLength = 8 << 10

// defaultKeySetAlgorithms are allowed with a key set when
// Config.Algorithms is empty.
var defaultKeySetAlgorithms = []string{"RS256", "ES256"}

// Config configures an Authenticator. Exactly one of JWKSURL, StaticKey,
// StaticKeyFile and HMACSecret must be set.
type Config struct {
	// JWKSURL is the identity provider's JSON Web Key Set. It must use
	// https, except on a loopback host. New fetches it once, waiting up to
	// FetchTimeout. When that fails, New still succeeds, and requests fail
	// the check (503, not 401) until a later fetch brings keys.
	// Authenticator.CheckKeys reports how the fetch went.
	JWKSURL string

	// StaticKey is one PEM-encoded public key that signs all tokens: RSA
	// (2048 bits or more), ECDSA (P-256, P-384 or P-521) or Ed25519, as a
	// "PUBLIC KEY", an "RSA PUBLIC KEY" or a "CERTIFICATE" block.
	StaticKey []byte

	// StaticKeyFile names a file that holds StaticKey, for programs that
	// take the key from a file. New reads it once.
	StaticKeyFile string

	// HMACSecret is a secret shared with the identity provider, for HS256,
	// HS384 or HS512 tokens. It must be at least as long as the hash output:
	// 32, 48 or 64 bytes.
	HMACSecret []byte

	// Algorithms lists the allowed "alg" values. Empty means RS256 and
	// ES256 with JWKSURL, the key's own algorithm with StaticKey or
	// StaticKeyFile (RS256, ES256, ES384, ES512 or EdDSA), and HS256 with
	// HMACSecret. "none" and unknown names are rejected, as are HMAC
	// algorithms with anything but HMACSecret.
	Algorithms []string

	// Issuer is the required "iss" claim. Required.
	Issuer string

	// Audience must be one of the "aud" claim's values. Required.
	Audience string

	// Leeway is the clock skew allowed when checking "exp", "nbf" and
	// "iat". Zero means DefaultLeeway, so leeway cannot be turned off. It
	// must not exceed MaxLeeway.
	Leeway time.Duration

	// CookieName names a cookie to read the token from when the request has
	// no "Authorization: Bearer" header. Empty means tokens come only from
	// that header.
	CookieName string

	// DefaultRegion is the region (such as "US") for phone numbers written
	// without a country code. Empty means such numbers are invalid.
	DefaultRegion string

	// Now returns the current time for checking claims. Nil means time.Now.
	Now func() time.Time

	// HTTPClient fetches the key set. Nil means a client of this package
	// that keeps no idle connections. Redirects follow the client's policy.
	HTTPClient *http.Client

	// RefreshInterval is how often the key set is fetched again in the
	// background. Zero means DefaultRefreshInterval. It must be at least
	// MinRefreshInterval.
	RefreshInterval time.Duration

	// UnknownKIDRefreshInterval is the minimum time between the fetches
	// that tokens with an uncached key ID cause, so a rotated key is found
	// soon without letting forged key IDs flood the provider. Zero means
	// DefaultUnknownKIDRefreshInterval. It must be at least
	// MinUnknownKIDRefreshInterval.
	UnknownKIDRefreshInterval time.Duration

	// FetchTimeout bounds one key set fetch, including the wait that a
	// request spends on a fetch for an unknown key ID. Zero means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
}

// Authenticator verifies JSON Web Tokens. It is safe for concurrent use.
// Close it to stop the background refresh of a key set.
type Authenticator struct {
	parserOptions []jwt.ParserOption
	algorithms    []string
	staticKey     any     // the key when there is no key set
	keys          *keySet // nil with a static key or secret
	cookieName    string
	defaultRegion string
	closed        atomic.Bool
	now           func() time.Time
	verified      *verifiedCache
}

// New validates cfg and returns an Authenticator. It reports every problem
// with cfg at once, each as an *identity.FieldError, joined with
// errors.Join when there are several. With StaticKeyFile it reads the key
// from the file. With JWKSURL it fetches the key set once before returning
// and starts a goroutine that refreshes it until Close.
func New(cfg Config) (*Authenticator, error) {
	source, problems := readKeySource(cfg)
	problems = append(problems, checkConfig(cfg)...)
	algorithms, algorithmProblems := allowedAlgorithms(cfg, source)
	problems = append(problems, algorithmProblems...)
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}

	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{
		parserOptions: []jwt.ParserOption{
			jwt.WithValidMethods(algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cmp.Or(cfg.Leeway, DefaultLeeway)),
			jwt.WithTimeFunc(now),
		},
		algorithms:    algorithms,
		staticKey:     source.key,
		cookieName:    cfg.CookieName,
		now:           now,
		verified:      newVerifiedCache(),
		defaultRegion: cfg.DefaultRegion,
	}
	if cfg.JWKSURL != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = newFetchClient()
		}
		keys, err := newKeySet(keySetOptions{
			url:                       cfg.JWKSURL,
			client:                    client,
			refreshInterval:           cmp.Or(cfg.RefreshInterval, DefaultRefreshInterval),
			unknownKIDRefreshInterval: cmp.Or(cfg.UnknownKIDRefreshInterval, DefaultUnknownKIDRefreshInterval),
			fetchTimeout:              cmp.Or(cfg.FetchTimeout, DefaultFetchTimeout),
		})
		if err != nil {
			return nil, &identity.FieldError{Package: "jwtauth", Fields: []string{"JWKSURL"}, Problem: "cannot be used", Err: err}
		}
		a.keys = keys
	}
	return a, nil
}

// keySource is the key source that a Config sets.
type keySource struct {
	// field names the Config field of the source. It is empty when the
	// source is unknown: the Config sets no key source or more than one,
	// or its static key cannot be read.
	field string

	// kind is the type of the static key or secret, and zero for a key set.
	kind keyType

	// key is the static key or the HMAC secret, and nil for a key set.
	key any
}

// readKeySource returns the one key source that cfg sets, with its static
// key read and parsed, and every problem with the key fields. Each key
// field that is set is checked, even when another is set too, so that one
// run reports every problem.
func readKeySource(cfg Config) (keySource, []error) {
	var sources []keySource
	var set []string
	var problems []error
	if cfg.JWKSURL != "" {
		set = append(set, "JWKSURL")
		if err := checkKeySetURL(cfg.JWKSURL); err != nil {
			problems = append(problems, err)
		}
		sources = append(sources, keySource{field: "JWKSURL"})
	}
	if len(cfg.StaticKey) > 0 {
		set = append(set, "StaticKey")
		key, kind, err := parsePublicKey(cfg.StaticKey)
		if err != nil {
			problems = append(problems, &identity.FieldError{Package: "jwtauth", Fields: []string{"StaticKey"}, Problem: "is invalid", Err: err})
		} else {
			sources = append(sources, keySource{field: "StaticKey", kind: kind, key: key})
		}
	}
	if cfg.StaticKeyFile != "" {
		set = append(set, "StaticKeyFile")
		source, err := readKeyFile(cfg.StaticKeyFile)
		if err != nil {
			problems = append(problems, err)
		} else {
			sources = append(sources, source)
		}
	}
	if len(cfg.HMACSecret) > 0 {
		set = append(set, "HMACSecret")
		sources = append(sources, keySource{field: "HMACSecret", kind: keyHMAC, key: slices.Clone(cfg.HMACSecret)})
	}

	switch len(set) {
	case 0:
		problems = append(problems, &identity.FieldError{Package: "jwtauth", Fields: []string{"JWKSURL", "StaticKey", "StaticKeyFile", "HMACSecret"}, Problem: "are empty; set one of them"})
	case 1:
	default:
		conflict := &identity.FieldError{Package: "jwtauth", Fields: set, Problem: "are set together; set only one of them"}
		problems = append([]error{conflict}, problems...)
	}
	if len(set) != 1 || len(sources) != 1 {
		// The source stays unknown, so allowedAlgorithms skips the checks
		// that depend on it: whether each algorithm fits the key, and
		// whether an HMAC secret is long enough.
		return keySource{}, problems
	}
	return sources[0], problems
}

// readKeyFile reads and parses the static key in the file at path.
func readKeyFile(path string) (keySource, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return keySource{}, &identity.FieldError{Package: "jwtauth", Fields: []string{"StaticKeyFile"}, Problem: "cannot be read", Err: err}
	}
	key, kind, err := parsePublicKey(data)
	if err != nil {
		return keySource{}, &identity.FieldError{Package: "jwtauth", Fields: []string{"StaticKeyFile"}, Problem: "is invalid", Err: err}
	}
	return keySource{field: "StaticKeyFile", kind: kind, key: key}, nil
}

// allowedAlgorithms returns the algorithms that may sign tokens:
// cfg.Algorithms, or the default of the key source when that is empty. It
// also returns one problem for each algorithm that is never allowed or does
// not fit the key source, and for an HMAC secret too short for one of them.
func allowedAlgorithms(cfg Config, source keySource) ([]string, []error) {
	algorithms := slices.Clone(cfg.Algorithms)
	if len(algorithms) == 0 {
		switch source.field {
		case "":
			// An unknown key source has no default, and New fails anyway.
		case "JWKSURL":
			algorithms = slices.Clone(defaultKeySetAlgorithms)
		default:
			algorithms = []string{defaultAlgorithm[source.kind]}
		}
	}

	problems := checkAlgorithms(algorithms, source)
	if source.kind == keyHMAC {
		for _, alg := range algorithms {
			if want := minHMACSecretBytes[alg]; want > 0 && len(cfg.HMACSecret) < want {
				problems = append(problems, configError("HMACSecret", "has %d bytes, but %s needs at least %d", len(cfg.HMACSecret), alg, want))
			}
		}
	}
	return algorithms, problems
}

// checkConfig returns the problems with the fields of cfg other than the
// key source and the algorithms.
func checkConfig(cfg Config) []error {
	var problems []error
	if cfg.Issuer == "" {
		problems = append(problems, configError("Issuer", "is required"))
	}
	if cfg.Audience == "" {
		problems = append(problems, configError("Audience", "is required"))
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		problems = append(problems, configError("Leeway", "%s is outside 0 to %s", cfg.Leeway, MaxLeeway))
	}
	// A cookie name is an HTTP token (RFC 6265, section 4.1.1), as a header
	// name is.
	if cfg.CookieName != "" && !httpguts.ValidHeaderFieldName(cfg.CookieName) {
		problems = append(problems, configError("CookieName", "%q is not a valid cookie name", cfg.CookieName))
	}
	if cfg.DefaultRegion != "" && !phone.ValidRegion(cfg.DefaultRegion) {
		problems = append(problems, configError("DefaultRegion", "%q is not a known region code", cfg.DefaultRegion))
	}
	if cfg.RefreshInterval != 0 && cfg.RefreshInterval < MinRefreshInterval {
		problems = append(problems, configError("RefreshInterval", "%s is shorter than %s", cfg.RefreshInterval, MinRefreshInterval))
	}
	if cfg.UnknownKIDRefreshInterval != 0 && cfg.UnknownKIDRefreshInterval < MinUnknownKIDRefreshInterval {
		problems = append(problems, configError("UnknownKIDRefreshInterval", "%s is shorter than %s", cfg.UnknownKIDRefreshInterval, MinUnknownKIDRefreshInterval))
	}
	if cfg.FetchTimeout < 0 {
		problems = append(problems, configError("FetchTimeout", "%s is negative", cfg.FetchTimeout))
	}
	return problems
}

// configError returns a problem with the Config field named field.
func configError(field, format string, args ...any) error {
	return &identity.FieldError{Package: "jwtauth", Fields: []string{field}, Problem: fmt.Sprintf(format, args...)}
}

// Authenticate verifies the token in r and returns the identity it names.
// A missing, oversized or invalid token gives an error wrapping
// identity.ErrUnauthenticated. The error does not wrap it when the token's
// key is not cached and the key set could not be fetched or contains no
// keys, because the token may well be genuine. Nor does it after Close.
func (a *Authenticator) Authenticate(r *http.Request) (identity.Identity, error) {
	if a.closed.Load() {
		return identity.Identity{}, errors.New("jwt auth: authenticator is closed")
	}
	raw, err := a.token(r)
	if err != nil {
		return identity.Identity{}, fmt.Errorf("%w: %w", identity.ErrUnauthenticated, err)
	}

	now, generation := a.now(), a.keyGeneration()
	if id, ok := a.verified.get(raw, now, generation); ok {
		return id, nil
	}

	var c claims
	parser := jwt.NewParser(a.parserOptions...)
	token, err := parser.ParseWithClaims(raw, &c, a.keyfunc(r.Context()))
	if err != nil {
		return identity.Identity{}, a.verifyError(r.Context(), token, err)
	}
	if err := checkSubject(c.Subject); err != nil {
		return identity.Identity{}, fmt.Errorf("%w: %w", identity.ErrUnauthenticated, err)
	}
	id := identity.Identity{UserID: c.Subject, Phone: a.verifiedPhone(c)}
	var expiry time.Time
	if c.ExpiresAt != nil {
		expiry = c.ExpiresAt.Time
	}
	a.verified.put(raw, id, expiry, now, generation)
	return id, nil
}

// keyGeneration identifies the key set that verifies tokens now: 0 for a
// static key, and otherwise a number that changes with every fetched set.
func (a *Authenticator) keyGeneration() uint64 {
	if a.keys == nil {
		return 0
	}
	return a.keys.generation.Load()
}

// CheckKeys returns how many keys can verify tokens now, for a deploy
// check or a readiness probe. With StaticKey, StaticKeyFile or HMACSecret
// that is the one key, which New checked. With JWKSURL it sends no request. It counts the
// cached keys from the latest fetch that can verify a token signed with an
// allowed algorithm. Keys marked for encryption do not count, nor do keys
// whose type or "alg" parameter fits no allowed algorithm. New makes the
// first fetch, so right after New the count is that fetch's.
//
// CheckKeys returns an error when the latest fetch failed (with the count
// of keys cached from an earlier fetch, which still verify tokens), when
// no cached key is usable, or after Close.
func (a *Authenticator) CheckKeys(ctx context.Context) (int, error) {
	if a.closed.Load() {
		return 0, errors.New("jwt auth: authenticator is closed")
	}
	if a.keys == nil {
		return 1, nil
	}
	return a.keys.check(ctx, a.algorithms)
}

// Close stops the background refresh of the key set. The refresh goroutine
// ends soon after Close returns. Authenticate fails after Close. Close is
// safe to call more than once.
func (a *Authenticator) Close() {
	if a.closed.Swap(true) {
		return
	}
	if a.keys != nil {
		a.keys.close()
	}
}

// claims are the claims read from a token. The phone claims are decoded as
// any JSON value, so that an odd type drops the phone instead of failing the
// whole token.
type claims struct {
	jwt.RegisteredClaims
	PhoneNumber         any `json:"phone_number"`
	PhoneNumberVerified any `json:"phone_number_verified"`
}

// verifiedPhone returns the E.164 form of the token's verified phone
// number, or "" when there is none or it is invalid.
func (a *Authenticator) verifiedPhone(c claims) string {
	verified, _ := c.PhoneNumberVerified.(bool)
	number, _ := c.PhoneNumber.(string)
	if !verified || number == "" {
		return ""
	}
	e164, err := phone.Normalize(number, a.defaultRegion)
	if err != nil {
		return ""
	}
	return e164
}

// token returns the raw token from the Authorization header or the cookie.
func (a *Authenticator) token(r *http.Request) (string, error) {
	raw, err := bearerToken(r.Header.Values("Authorization"))
	if err != nil {
		return "", err
	}
	if raw == "" && a.cookieName != "" {
		if cookie, err := r.Cookie(a.cookieName); err == nil {
			raw = cookie.Value
		}
	}
	switch {
	case raw == "":
		return "", errors.New("no bearer token")
	case len(raw) > MaxTokenLength:
		return "", fmt.Errorf("token is longer than %d bytes", MaxTokenLength)
	}
	return raw, nil
}

// bearerToken returns the token of a single "Authorization: Bearer"
// header, or "" when there is no such header. The scheme name is
// case-insensitive (RFC 9110, section 11.1).
func bearerToken(headers []string) (string, error) {
	switch len(headers) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("%d Authorization headers, want one", len(headers))
	}
	scheme, credentials, _ := strings.Cut(headers[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", nil
	}
	token := strings.TrimSpace(credentials)
	if token == "" {
		return "", errors.New("empty bearer token")
	}
	return token, nil
}

func (a *Authenticator) keyfunc(ctx context.Context) jwt.Keyfunc {
	if a.keys != nil {
		return a.keys.keyfuncCtx(ctx)
	}
	return func(*jwt.Token) (any, error) { return a.staticKey, nil }
}

// verifyError turns a failed verification into the error Authenticate
// returns. A missing key counts as an invalid token only while the key set
// is current.
func (a *Authenticator) verifyError(ctx context.Context, token *jwt.Token, err error) error {
	if _, ok := errors.AsType[*keyLookupError](err); !ok || a.keys == nil {
		return fmt.Errorf("%w: %w", identity.ErrUnauthenticated, err)
	}
	if cause := a.keys.unavailable(ctx); cause != nil {
		return fmt.Errorf("jwt auth: signing keys unavailable: %w", cause)
	}
	// The key set error repeats the key ID, which the token chose and may
	// make long, so it is shortened here and the cause left out.
	var kid string
	if token != nil {
		kid, _ = token.Header["kid"].(string)
	}
	return fmt.Errorf("%w: no usable signing key for key ID %q", identity.ErrUnauthenticated, truncate(kid, 64))
}

// checkSubject rejects a missing "sub" claim, and values that would be
// unsafe in rate-limit keys and log lines.
func checkSubject(sub string) error {
	if sub == "" {
		return errors.New(`token has no "sub" claim`)
	}
	if err := identity.CheckUserID(sub); err != nil {
		return fmt.Errorf(`"sub" claim: %w`, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
