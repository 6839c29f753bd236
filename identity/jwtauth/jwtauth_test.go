package jwtauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/identitytest"
	"github.com/c2cauth/c2cauth/identity/jwtauth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	issuer   = "https://idp.example"
	audience = "c2cauth"
)

// now is the fixed time of every test, and tokens are made relative to it.
var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func clock() time.Time { return now }

// Keys are generated once per run, because RSA generation is slow under the
// race detector.
var (
	rsaKey  = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	edKeys  = sync.OnceValues(func() (ed25519.PublicKey, ed25519.PrivateKey) {
		return must2(ed25519.GenerateKey(rand.Reader))
	})
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func edKey() ed25519.PrivateKey {
	_, private := edKeys()
	return private
}

// pemPublic encodes the public half of key as a PKIX "PUBLIC KEY" block.
func pemPublic(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims returns valid claims for user alice, changed by edits.
func claims(edits ...func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": issuer,
		"aud": audience,
		"sub": "alice",
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
	for _, edit := range edits {
		edit(c)
	}
	return c
}

func set(name string, value any) func(jwt.MapClaims) {
	return func(c jwt.MapClaims) { c[name] = value }
}

func remove(name string) func(jwt.MapClaims) {
	return func(c jwt.MapClaims) { delete(c, name) }
}

// sign returns a token over c signed with key, with no "kid" when kid is empty.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	token := jwt.NewWithClaims(method, c)
	if kid != "" {
		token.Header["kid"] = kid
	}
	signed, err := token.SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return signed
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// outcome is the kind of result Authenticate gives.
type outcome = identitytest.Outcome

const (
	signedIn        = identitytest.SignedIn
	unauthenticated = identitytest.Unauthenticated
	failed          = identitytest.Failed
)

var classify = identitytest.Classify

// publishedKey is one entry of a served key set.
type publishedKey struct {
	kid string
	alg string
	use string
	key crypto.PublicKey
}

// keyServer plays the identity provider's JWKS endpoint on loopback.
type keyServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu     sync.Mutex
	body   []byte
	status int
}

func newKeyServer(t *testing.T, keys ...publishedKey) *keyServer {
	t.Helper()
	s := &keyServer{status: http.StatusOK}
	s.publish(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish replaces the served key set.
func (s *keyServer) publish(t *testing.T, keys ...publishedKey) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.USE(k.use)},
		})
		if err != nil {
			t.Fatalf("build JWK %q: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, jwk.Marshal())
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(http.StatusOK, body)
}

func (s *keyServer) serve(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func rsaPublished(kid string, key *rsa.PrivateKey) publishedKey {
	return publishedKey{kid: kid, alg: "RS256", use: "sig", key: key.Public()}
}

func newAuthenticator(t *testing.T, cfg jwtauth.Config) *jwtauth.Authenticator {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = issuer
	}
	if cfg.Audience == "" {
		cfg.Audience = audience
	}
	if cfg.Now == nil {
		cfg.Now = clock
	}
	a, err := jwtauth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

func TestAuthenticateKeySet(t *testing.T) {
	server := newKeyServer(t,
		rsaPublished("rsa-1", rsaKey()),
		publishedKey{kid: "ec-1", alg: "ES256", use: "sig", key: ecKey().Public()},
		publishedKey{kid: "enc-1", alg: "RS256", use: "enc", key: rsaKey2().Public()},
	)
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})
	rsaPEM := pemPublic(t, rsaKey())

	tests := []struct {
		name  string
		token string
		want  outcome
	}{
		{name: "RS256", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())},
		{name: "ES256", token: sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())},
		{name: "no kid", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "", claims())},
		{name: "audience in list", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("aud", []string{"other", audience})))},
		{name: "expired", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("exp", now.Add(-time.Minute).Unix()))), want: unauthenticated},
		{name: "expired within leeway", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("exp", now.Add(-20*time.Second).Unix())))},
		{name: "no exp", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(remove("exp"))), want: unauthenticated},
		{name: "nbf in future", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("nbf", now.Add(time.Minute).Unix()))), want: unauthenticated},
		{name: "nbf within leeway", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("nbf", now.Add(20*time.Second).Unix())))},
		{name: "iat in future", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("iat", now.Add(time.Minute).Unix()))), want: unauthenticated},
		{name: "wrong issuer", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("iss", "https://evil.example"))), want: unauthenticated},
		{name: "no issuer", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(remove("iss"))), want: unauthenticated},
		{name: "wrong audience", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("aud", "other-app"))), want: unauthenticated},
		{name: "no audience", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(remove("aud"))), want: unauthenticated},
		{name: "missing sub", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(remove("sub"))), want: unauthenticated},
		{name: "empty sub", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("sub", ""))), want: unauthenticated},
		{name: "sub with newline", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("sub", "alice\nadmin"))), want: unauthenticated},
		{name: "numeric sub", token: sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims(set("sub", 42))), want: unauthenticated},
		{name: "alg not allowed", token: sign(t, jwt.SigningMethodRS384, rsaKey(), "rsa-1", claims()), want: unauthenticated},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", claims()), want: unauthenticated},
		{name: "HS256 with public key", token: sign(t, jwt.SigningMethodHS256, rsaPEM, "rsa-1", claims()), want: unauthenticated},
		{name: "other key same kid", token: sign(t, jwt.SigningMethodRS256, rsaKey2(), "rsa-1", claims()), want: unauthenticated},
		{name: "key marked for encryption", token: sign(t, jwt.SigningMethodRS256, rsaKey2(), "enc-1", claims()), want: unauthenticated},
		{name: "EC key for RSA kid", token: sign(t, jwt.SigningMethodES256, ecKey(), "rsa-1", claims()), want: unauthenticated},
		{name: "malformed", token: "not.a.token", want: unauthenticated},
		{name: "two segments", token: "abc.def", want: unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(bearer(tt.token))
			if o := classify(err); o != tt.want {
				t.Fatalf("got %v (error %v), want %v", o, err, tt.want)
			}
			if tt.want == signedIn && got.UserID != "alice" {
				t.Errorf("got user %q, want %q", got.UserID, "alice")
			}
		})
	}
}

func TestAuthenticateStaticKey(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	tests := []struct {
		name string
		cfg  jwtauth.Config
		good string
		bad  map[string]string
	}{
		{
			name: "ES256",
			cfg:  jwtauth.Config{StaticKey: pemPublic(t, ecKey())},
			good: sign(t, jwt.SigningMethodES256, ecKey(), "", claims()),
			bad: map[string]string{
				"HS256 with public key": sign(t, jwt.SigningMethodHS256, pemPublic(t, ecKey()), "", claims()),
				"other key":             sign(t, jwt.SigningMethodRS256, rsaKey(), "", claims()),
			},
		},
		{
			name: "RS256",
			cfg:  jwtauth.Config{StaticKey: pemPublic(t, rsaKey())},
			good: sign(t, jwt.SigningMethodRS256, rsaKey(), "any-kid", claims()),
			bad: map[string]string{
				"HS256 with public key": sign(t, jwt.SigningMethodHS256, pemPublic(t, rsaKey()), "", claims()),
				"PS256 not allowed":     sign(t, jwt.SigningMethodPS256, rsaKey(), "", claims()),
			},
		},
		{
			name: "PS256 allowed",
			cfg:  jwtauth.Config{StaticKey: pemPublic(t, rsaKey()), Algorithms: []string{"PS256"}},
			good: sign(t, jwt.SigningMethodPS256, rsaKey(), "", claims()),
			bad: map[string]string{
				"RS256 not allowed": sign(t, jwt.SigningMethodRS256, rsaKey(), "", claims()),
			},
		},
		{
			name: "EdDSA",
			cfg:  jwtauth.Config{StaticKey: pemPublic(t, edKey())},
			good: sign(t, jwt.SigningMethodEdDSA, edKey(), "", claims()),
			bad: map[string]string{
				"expired": sign(t, jwt.SigningMethodEdDSA, edKey(), "", claims(set("exp", now.Add(-time.Hour).Unix()))),
			},
		},
		{
			name: "HS256",
			cfg:  jwtauth.Config{HMACSecret: secret},
			good: sign(t, jwt.SigningMethodHS256, secret, "", claims()),
			bad: map[string]string{
				"other secret": sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "", claims()),
				"HS512":        sign(t, jwt.SigningMethodHS512, secret, "", claims()),
				"alg none":     sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims()),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthenticator(t, tt.cfg)
			got, err := a.Authenticate(bearer(tt.good))
			if err != nil {
				t.Fatalf("valid token: got error %v, want none", err)
			}
			if want := (identity.Identity{UserID: "alice"}); got != want {
				t.Errorf("valid token: got %+v, want %+v", got, want)
			}
			for name, token := range tt.bad {
				_, err := a.Authenticate(bearer(token))
				if o := classify(err); o != unauthenticated {
					t.Errorf("%s: got %v (error %v), want %v", name, o, err, unauthenticated)
				}
			}
		})
	}
}

func TestAuthenticateLeeway(t *testing.T) {
	a := newAuthenticator(t, jwtauth.Config{StaticKey: pemPublic(t, ecKey()), Leeway: 2 * time.Minute})
	tests := []struct {
		name string
		exp  time.Duration
		want outcome
	}{
		{name: "expired within leeway", exp: -90 * time.Second, want: signedIn},
		{name: "expired beyond leeway", exp: -3 * time.Minute, want: unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := sign(t, jwt.SigningMethodES256, ecKey(), "", claims(set("exp", now.Add(tt.exp).Unix())))
			_, err := a.Authenticate(bearer(token))
			if o := classify(err); o != tt.want {
				t.Errorf("got %v (error %v), want %v", o, err, tt.want)
			}
		})
	}
}

func TestAuthenticateClock(t *testing.T) {
	var current atomic.Int64
	current.Store(now.Unix())
	a := newAuthenticator(t, jwtauth.Config{
		StaticKey: pemPublic(t, ecKey()),
		Now:       func() time.Time { return time.Unix(current.Load(), 0) },
	})
	token := sign(t, jwt.SigningMethodES256, ecKey(), "", claims())

	if _, err := a.Authenticate(bearer(token)); err != nil {
		t.Fatalf("before expiry: got error %v, want none", err)
	}
	current.Store(now.Add(11 * time.Minute).Unix())
	_, err := a.Authenticate(bearer(token))
	if !errors.Is(err, jwt.ErrTokenExpired) || !errors.Is(err, identity.ErrUnauthenticated) {
		t.Errorf("after expiry: got error %v, want ErrUnauthenticated and ErrTokenExpired", err)
	}
}

func TestAuthenticatePhone(t *testing.T) {
	a := newAuthenticator(t, jwtauth.Config{StaticKey: pemPublic(t, ecKey()), DefaultRegion: "GB"})
	tests := []struct {
		name     string
		number   any
		verified any
		want     string
	}{
		{name: "verified", number: "+14155550100", verified: true, want: "+14155550100"},
		{name: "verified national", number: "020 7946 0018", verified: true, want: "+442079460018"},
		{name: "not verified", number: "+14155550100", verified: false},
		{name: "verified absent", number: "+14155550100"},
		{name: "verified as string", number: "+14155550100", verified: "true"},
		{name: "number absent", verified: true},
		{name: "invalid number", number: "12", verified: true},
		{name: "number not a string", number: 14155550100, verified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims()
			if tt.number != nil {
				c["phone_number"] = tt.number
			}
			if tt.verified != nil {
				c["phone_number_verified"] = tt.verified
			}
			got, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "", c)))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if want := (identity.Identity{UserID: "alice", Phone: tt.want}); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestAuthenticateTokenSource(t *testing.T) {
	a := newAuthenticator(t, jwtauth.Config{StaticKey: pemPublic(t, ecKey()), CookieName: "id_token"})
	alice := sign(t, jwt.SigningMethodES256, ecKey(), "", claims())
	bob := sign(t, jwt.SigningMethodES256, ecKey(), "", claims(set("sub", "bob")))

	tests := []struct {
		name          string
		authorization []string
		cookie        string
		want          string
		wantOutcome   outcome
	}{
		{name: "bearer header", authorization: []string{"Bearer " + alice}, want: "alice"},
		{name: "lowercase scheme", authorization: []string{"bearer " + alice}, want: "alice"},
		{name: "cookie", cookie: alice, want: "alice"},
		{name: "header before cookie", authorization: []string{"Bearer " + bob}, cookie: alice, want: "bob"},
		{name: "basic header and cookie", authorization: []string{"Basic dXNlcjpwYXNz"}, cookie: alice, want: "alice"},
		{name: "no token", wantOutcome: unauthenticated},
		{name: "basic header only", authorization: []string{"Basic dXNlcjpwYXNz"}, wantOutcome: unauthenticated},
		{name: "empty bearer", authorization: []string{"Bearer "}, cookie: alice, wantOutcome: unauthenticated},
		{name: "two headers", authorization: []string{"Bearer " + alice, "Bearer " + bob}, wantOutcome: unauthenticated},
		{name: "bad cookie", cookie: "garbage", wantOutcome: unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
			r.Header["Authorization"] = tt.authorization
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "id_token", Value: tt.cookie})
			}
			got, err := a.Authenticate(r)
			if o := classify(err); o != tt.wantOutcome {
				t.Fatalf("got %v (error %v), want %v", o, err, tt.wantOutcome)
			}
			if got.UserID != tt.want {
				t.Errorf("got user %q, want %q", got.UserID, tt.want)
			}
		})
	}
}

func TestAuthenticateCookieIgnoredWithoutCookieName(t *testing.T) {
	a := newAuthenticator(t, jwtauth.Config{StaticKey: pemPublic(t, ecKey())})
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.AddCookie(&http.Cookie{Name: "id_token", Value: sign(t, jwt.SigningMethodES256, ecKey(), "", claims())})

	_, err := a.Authenticate(r)
	if o := classify(err); o != unauthenticated {
		t.Errorf("got %v (error %v), want %v", o, err, unauthenticated)
	}
}

func TestAuthenticateTokenTooLong(t *testing.T) {
	server := newKeyServer(t, rsaPublished("rsa-1", rsaKey()))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})
	token := sign(t, jwt.SigningMethodRS256, rsaKey(), "unknown", claims(set("pad", strings.Repeat("x", jwtauth.MaxTokenLength))))
	before := server.fetches.Load()

	_, err := a.Authenticate(bearer(token))
	if o := classify(err); o != unauthenticated {
		t.Errorf("got %v (error %v), want %v", o, err, unauthenticated)
	}
	if got := server.fetches.Load() - before; got != 0 {
		t.Errorf("got %d key set fetches, want 0", got)
	}
}

func TestAuthenticateKeyRotation(t *testing.T) {
	server := newKeyServer(t, rsaPublished("old", rsaKey()))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})
	oldToken := sign(t, jwt.SigningMethodRS256, rsaKey(), "old", claims())
	newToken := sign(t, jwt.SigningMethodRS256, rsaKey2(), "new", claims(set("sub", "bob")))

	if _, err := a.Authenticate(bearer(oldToken)); err != nil {
		t.Fatalf("old key before rotation: got error %v, want none", err)
	}
	server.publish(t, rsaPublished("new", rsaKey2()))

	got, err := a.Authenticate(bearer(newToken))
	if err != nil {
		t.Fatalf("new key after rotation: got error %v, want none", err)
	}
	if got.UserID != "bob" {
		t.Errorf("got user %q, want %q", got.UserID, "bob")
	}
	if got := server.fetches.Load(); got != 2 {
		t.Errorf("got %d key set fetches, want 2 (start and unknown kid)", got)
	}

	// The refresh dropped the old key, and another unknown key ID within
	// the refresh interval must not fetch again.
	_, err = a.Authenticate(bearer(oldToken))
	if o := classify(err); o != unauthenticated {
		t.Errorf("old key after rotation: got %v (error %v), want %v", o, err, unauthenticated)
	}
	forged := sign(t, jwt.SigningMethodRS256, rsaKey2(), "forged", claims())
	for range 5 {
		_, err = a.Authenticate(bearer(forged))
		if o := classify(err); o != unauthenticated {
			t.Errorf("forged kid: got %v (error %v), want %v", o, err, unauthenticated)
		}
	}
	if got := server.fetches.Load(); got != 2 {
		t.Errorf("got %d key set fetches after unknown key IDs, want still 2", got)
	}
}

func TestAuthenticateKeySetDown(t *testing.T) {
	server := newKeyServer(t)
	server.serve(http.StatusServiceUnavailable, []byte("maintenance"))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL, UnknownKIDRefreshInterval: time.Second})
	token := sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())

	_, err := a.Authenticate(bearer(token))
	if o := classify(err); o != failed {
		t.Fatalf("while down: got %v (error %v), want %v", o, err, failed)
	}

	server.publish(t, rsaPublished("rsa-1", rsaKey()))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = a.Authenticate(bearer(token))
		if err == nil {
			break
		}
		if o := classify(err); o != failed {
			t.Fatalf("while recovering: got %v (error %v), want %v", o, err, failed)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: got error %v for 5s, want none", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAuthenticateKeySetDownWithoutKID(t *testing.T) {
	server := newKeyServer(t)
	server.serve(http.StatusServiceUnavailable, nil)
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL, UnknownKIDRefreshInterval: time.Second})
	token := sign(t, jwt.SigningMethodRS256, rsaKey(), "", claims())

	_, err := a.Authenticate(bearer(token))
	if o := classify(err); o != failed {
		t.Fatalf("while down: got %v (error %v), want %v", o, err, failed)
	}

	server.publish(t, rsaPublished("rsa-1", rsaKey()))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = a.Authenticate(bearer(token)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery: got error %v for 5s, want none", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAuthenticateKeySetUnreachable(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	url := server.URL
	server.Close()
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: url})

	_, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())))
	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
}

func TestAuthenticateCachedKeysOutliveOutage(t *testing.T) {
	server := newKeyServer(t, rsaPublished("rsa-1", rsaKey()))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})
	server.serve(http.StatusBadGateway, nil)

	if _, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims()))); err != nil {
		t.Errorf("cached kid: got error %v, want none", err)
	}
	// An unknown key ID may be a key the provider has but cannot hand
	// out now, so it fails the check instead of rejecting the visitor.
	_, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey2(), "rsa-2", claims())))
	if o := classify(err); o != failed {
		t.Errorf("unknown kid during outage: got %v (error %v), want %v", o, err, failed)
	}
}

func TestAuthenticateKeySetTooLarge(t *testing.T) {
	server := newKeyServer(t)
	server.serve(http.StatusOK, []byte(`{"keys":[],"pad":"`+strings.Repeat("x", jwtauth.MaxKeySetBytes)+`"}`))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})

	_, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())))
	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
	if err != nil && !strings.Contains(err.Error(), "larger than") {
		t.Errorf("got error %q, want it to say the key set is too large", err)
	}
}

func TestNewKeySetSlow(t *testing.T) {
	const timeout = 200 * time.Millisecond
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer server.Close()

	start := time.Now()
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL, FetchTimeout: timeout})
	if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
		t.Errorf("got New after %s, want about %s", elapsed, timeout)
	}
	_, err := a.CheckKeys(context.Background())
	if want := "the key set URL " + server.URL + " did not respond within 200ms"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got error %v, want one starting with %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	_, err = a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())))
	if o := classify(err); o != failed {
		t.Errorf("got %v (error %v), want %v", o, err, failed)
	}
}

func TestCloseStopsRefresh(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[]}`))
	}))
	a, err := jwtauth.New(jwtauth.Config{JWKSURL: server.URL, Issuer: issuer, Audience: audience, Now: clock})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	a.Close()
	a.Close()
	_, err = a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())))
	if o := classify(err); o != failed {
		t.Errorf("after Close: got %v (error %v), want %v", o, err, failed)
	}
	server.Close()
	goleak.VerifyNone(t, ignore)
}

func TestAuthenticateConcurrent(t *testing.T) {
	server := newKeyServer(t, rsaPublished("rsa-1", rsaKey()))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})
	good := sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())
	forged := sign(t, jwt.SigningMethodRS256, rsaKey2(), "forged", claims())

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			token, want := good, signedIn
			if i%2 == 1 {
				token, want = forged, unauthenticated
			}
			_, err := a.Authenticate(bearer(token))
			if o := classify(err); o != want {
				t.Errorf("got %v (error %v), want %v", o, err, want)
			}
		})
	}
	wg.Wait()
}

func TestNewRejectsConfig(t *testing.T) {
	ecPEM := pemPublic(t, ecKey())
	privateDER, err := x509.MarshalPKCS8PrivateKey(ecKey())
	if err != nil {
		t.Fatal(err)
	}
	privatePEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privateDER})
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(strings.Repeat("k", 32))
	const jwks = "https://idp.example/jwks.json"
	dir := t.TempDir()
	missingFile := filepath.Join(dir, "missing.pem")
	notPEMFile := filepath.Join(dir, "not.pem")
	ecFile := filepath.Join(dir, "ec.pem")
	for path, content := range map[string][]byte{notPEMFile: []byte("not a key"), ecFile: ecPEM} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name   string
		cfg    jwtauth.Config
		want   []string
		fields [][]string
	}{
		{name: "empty", cfg: jwtauth.Config{}, want: []string{"JWKSURL, StaticKey, StaticKeyFile and HMACSecret are empty; set one of them", "jwtauth: Issuer is required", "jwtauth: Audience is required"}, fields: [][]string{{"JWKSURL", "StaticKey", "StaticKeyFile", "HMACSecret"}, {"Issuer"}, {"Audience"}}},
		{name: "two key sources", cfg: jwtauth.Config{JWKSURL: jwks, StaticKey: ecPEM, Issuer: issuer, Audience: audience}, want: []string{"JWKSURL and StaticKey are set together"}, fields: [][]string{{"JWKSURL", "StaticKey"}}},
		{name: "three key sources", cfg: jwtauth.Config{JWKSURL: jwks, StaticKey: ecPEM, HMACSecret: secret, Issuer: issuer, Audience: audience}, want: []string{"JWKSURL, StaticKey and HMACSecret are set together"}, fields: [][]string{{"JWKSURL", "StaticKey", "HMACSecret"}}},
		{name: "alg none", cfg: jwtauth.Config{JWKSURL: jwks, Algorithms: []string{"RS256", "none"}, Issuer: issuer, Audience: audience}, want: []string{`"none"`}, fields: [][]string{{"Algorithms"}}},
		{name: "unknown alg", cfg: jwtauth.Config{JWKSURL: jwks, Algorithms: []string{"RS257"}, Issuer: issuer, Audience: audience}, want: []string{`"RS257"`}, fields: [][]string{{"Algorithms"}}},
		{name: "HMAC with key set", cfg: jwtauth.Config{JWKSURL: jwks, Algorithms: []string{"RS256", "HS256"}, Issuer: issuer, Audience: audience}, want: []string{`Algorithms and JWKSURL do not fit together, because "HS256" is an HMAC algorithm`}, fields: [][]string{{"Algorithms", "JWKSURL"}}},
		{name: "HMAC with public key", cfg: jwtauth.Config{StaticKey: ecPEM, Algorithms: []string{"ES256", "HS256"}, Issuer: issuer, Audience: audience}, want: []string{`"HS256" needs a key of type HMAC`}, fields: [][]string{{"Algorithms", "StaticKey"}}},
		{name: "RSA alg with EC key", cfg: jwtauth.Config{StaticKey: ecPEM, Algorithms: []string{"RS256"}, Issuer: issuer, Audience: audience}, want: []string{`"RS256" needs a key of type RSA`}, fields: [][]string{{"Algorithms", "StaticKey"}}},
		{name: "ES384 with P-256 key", cfg: jwtauth.Config{StaticKey: ecPEM, Algorithms: []string{"ES384"}, Issuer: issuer, Audience: audience}, want: []string{`"ES384"`}, fields: [][]string{{"Algorithms", "StaticKey"}}},
		{name: "RSA alg with secret", cfg: jwtauth.Config{HMACSecret: secret, Algorithms: []string{"RS256"}, Issuer: issuer, Audience: audience}, want: []string{`"RS256"`}, fields: [][]string{{"Algorithms", "HMACSecret"}}},
		{name: "short secret", cfg: jwtauth.Config{HMACSecret: []byte("short"), Issuer: issuer, Audience: audience}, want: []string{"HMACSecret has 5 bytes"}, fields: [][]string{{"HMACSecret"}}},
		{name: "secret short for HS512", cfg: jwtauth.Config{HMACSecret: secret, Algorithms: []string{"HS512"}, Issuer: issuer, Audience: audience}, want: []string{"HS512 needs at least 64"}, fields: [][]string{{"HMACSecret"}}},
		{name: "not PEM", cfg: jwtauth.Config{StaticKey: []byte("not a key"), Issuer: issuer, Audience: audience}, want: []string{`StaticKey is invalid: no PEM block found; it must hold one PEM public key ("-----BEGIN PUBLIC KEY-----" or "-----BEGIN RSA PUBLIC KEY-----") or certificate ("-----BEGIN CERTIFICATE-----")`}, fields: [][]string{{"StaticKey"}}},
		{name: "invalid key and algorithms", cfg: jwtauth.Config{StaticKey: []byte("not a key"), Algorithms: []string{"none", "RS257", "RS256"}}, want: []string{"StaticKey is invalid", "Issuer is required", "Audience is required", `"none"`, `"RS257"`}, fields: [][]string{{"StaticKey"}, {"Issuer"}, {"Audience"}, {"Algorithms"}, {"Algorithms"}}},
		{name: "two key sources and algorithms", cfg: jwtauth.Config{JWKSURL: "ftp://idp.example/jwks.json", StaticKey: ecPEM, Algorithms: []string{"none", "HS256"}, Issuer: issuer, Audience: audience}, want: []string{"JWKSURL and StaticKey are set together", `"ftp://idp.example/jwks.json" must start with https://`, `"none"`}, fields: [][]string{{"JWKSURL", "StaticKey"}, {"JWKSURL"}, {"Algorithms"}}},
		{name: "key file missing", cfg: jwtauth.Config{StaticKeyFile: missingFile, JWKSURL: "ftp://idp.example/jwks.json", Algorithms: []string{"none"}}, want: []string{"JWKSURL and StaticKeyFile are set together", "must start with https://", "StaticKeyFile cannot be read: open " + missingFile, "Issuer is required", "Audience is required", `"none"`}, fields: [][]string{{"JWKSURL", "StaticKeyFile"}, {"JWKSURL"}, {"StaticKeyFile"}, {"Issuer"}, {"Audience"}, {"Algorithms"}}},
		{name: "key file not PEM", cfg: jwtauth.Config{StaticKeyFile: notPEMFile, Issuer: issuer, Audience: audience}, want: []string{"StaticKeyFile is invalid: no PEM block found; it must hold one PEM public key"}, fields: [][]string{{"StaticKeyFile"}}},
		{name: "key file and key", cfg: jwtauth.Config{StaticKeyFile: ecFile, StaticKey: ecPEM, Issuer: issuer, Audience: audience}, want: []string{"StaticKey and StaticKeyFile are set together"}, fields: [][]string{{"StaticKey", "StaticKeyFile"}}},
		{name: "RSA alg with key file", cfg: jwtauth.Config{StaticKeyFile: ecFile, Algorithms: []string{"RS256"}, Issuer: issuer, Audience: audience}, want: []string{`Algorithms and StaticKeyFile do not fit together, because "RS256" needs a key of type RSA`}, fields: [][]string{{"Algorithms", "StaticKeyFile"}}},
		{name: "key set URL echoed as typed", cfg: jwtauth.Config{JWKSURL: "http://user:pa55word@idp.example/key set.json", Issuer: issuer, Audience: audience}, want: []string{`"http://user:xxxxx@idp.example/key set.json" must use https`}, fields: [][]string{{"JWKSURL"}}},
		{name: "private key", cfg: jwtauth.Config{StaticKey: privatePEM, Issuer: issuer, Audience: audience}, want: []string{"private key"}, fields: [][]string{{"StaticKey"}}},
		{name: "two PEM blocks", cfg: jwtauth.Config{StaticKey: append(slices.Clone(ecPEM), ecPEM...), Issuer: issuer, Audience: audience}, want: []string{"more than one PEM block"}, fields: [][]string{{"StaticKey"}}},
		{name: "small RSA key", cfg: jwtauth.Config{StaticKey: pemPublic(t, smallRSA), Issuer: issuer, Audience: audience}, want: []string{"1024 bits"}, fields: [][]string{{"StaticKey"}}},
		{name: "plain http key set", cfg: jwtauth.Config{JWKSURL: "http://idp.example/jwks.json", Issuer: issuer, Audience: audience}, want: []string{"must use https"}, fields: [][]string{{"JWKSURL"}}},
		{name: "relative key set URL", cfg: jwtauth.Config{JWKSURL: "/jwks.json", Issuer: issuer, Audience: audience}, want: []string{"not an absolute URL"}, fields: [][]string{{"JWKSURL"}}},
		{name: "every setting", cfg: jwtauth.Config{
			JWKSURL:                   jwks,
			Issuer:                    issuer,
			Audience:                  audience,
			Leeway:                    time.Hour,
			CookieName:                "id token",
			DefaultRegion:             "XX",
			RefreshInterval:           time.Second,
			UnknownKIDRefreshInterval: time.Millisecond,
			FetchTimeout:              -time.Second,
		}, want: []string{"Leeway", "CookieName", "DefaultRegion", "RefreshInterval", "UnknownKIDRefreshInterval", "FetchTimeout"},
			fields: [][]string{{"Leeway"}, {"CookieName"}, {"DefaultRegion"}, {"RefreshInterval"}, {"UnknownKIDRefreshInterval"}, {"FetchTimeout"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := jwtauth.New(tt.cfg)
			if err == nil {
				a.Close()
				t.Fatal("got no error, want one")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to mention %q", err, want)
				}
			}
			if got := problemFields(t, err); !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("got problems with fields %q, want %q", got, tt.fields)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Errorf("got error %q, want one without the secret", err)
			}
			if strings.Contains(err.Error(), "pa55word") {
				t.Errorf("got error %q, want one without the URL's password", err)
			}
		})
	}
}

// problemFields returns the fields of each problem in err, an error of
// New, and fails the test for a problem that is not an
// *identity.FieldError of package jwtauth.
func problemFields(t *testing.T, err error) [][]string {
	t.Helper()
	return identitytest.ProblemFields(t, "jwtauth", err)
}

func TestNewReadsKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ec.pem")
	if err := os.WriteFile(path, pemPublic(t, ecKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator(t, jwtauth.Config{StaticKeyFile: path})

	// The key's own algorithm, ES256, is allowed by default.
	id, err := a.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "", claims())))
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if id.UserID != "alice" {
		t.Errorf("got user %q, want alice", id.UserID)
	}
	_, err = a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "", claims())))
	if o := classify(err); o != unauthenticated {
		t.Errorf("RS256 token: got %v (error %v), want %v", o, err, unauthenticated)
	}
}

func TestNewAcceptsKeyFormats(t *testing.T) {
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)})
	template := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now, NotAfter: now.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, template, template, ecKey().Public(), ecKey())
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})

	tests := []struct {
		name  string
		key   []byte
		token string
	}{
		{name: "PKCS1 RSA", key: rsaPKCS1, token: sign(t, jwt.SigningMethodRS256, rsaKey(), "", claims())},
		{name: "certificate", key: certPEM, token: sign(t, jwt.SigningMethodES256, ecKey(), "", claims())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthenticator(t, jwtauth.Config{StaticKey: tt.key})
			if _, err := a.Authenticate(bearer(tt.token)); err != nil {
				t.Errorf("got error %v, want none", err)
			}
		})
	}
}
