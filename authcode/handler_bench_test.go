package authcode_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/clientip"
	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/jwtauth"
	"github.com/c2cauth/c2cauth/origin"
	"github.com/c2cauth/c2cauth/ratelimit"
	"github.com/c2cauth/c2cauth/requestid"
)

// benchCode is the code that the benchmarks' code source returns.
const benchCode = "LHv1_8e22ba993a094a85af5b3d9fd2c87f2a"

// benchSIPConnection is the SIP connection of the benchmarks.
const benchSIPConnection = "f399069f-e84f-41e4-ac71-fab2ded73f1c"

// staticCodes is a code source that returns benchCode without a network.
type staticCodes struct{}

func (staticCodes) GenerateAuthenticationCode(ctx context.Context, sipConnectionID, callerPhone string) (string, error) {
	return benchCode, nil
}

// benchSetup is a handler under benchmark and the bearer token it accepts.
type benchSetup struct {
	handler http.Handler
	token   string
}

// newProductionSetup returns the handler as `c2cauth serve` wires it for a
// production site. It signs visitors in with a JWT and a static ES256 key,
// and allows one origin. Its per-user, per-IP and global limits are kept
// in memory and set too high to be reached. It asserts no caller phone,
// writes a JSON audit log and sets request IDs.
func newProductionSetup(b *testing.B) benchSetup {
	b.Helper()
	auth, token := newJWTAuthenticator(b, jwt.SigningMethodES256)
	return newPolicySetup(b, auth, token)
}

// newJWTAuthenticator returns a jwtauth.Authenticator with a new static
// key for method (ES256 or RS256) and a token that it accepts.
func newJWTAuthenticator(b *testing.B, method jwt.SigningMethod) (*jwtauth.Authenticator, string) {
	b.Helper()
	var key crypto.Signer
	var err error
	switch method {
	case jwt.SigningMethodES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwt.SigningMethodRS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		b.Fatalf("no key for signing method %s", method.Alg())
	}
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		b.Fatal(err)
	}
	auth, err := jwtauth.New(jwtauth.Config{
		StaticKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		Issuer:    "https://idp.example.com",
		Audience:  "c2cauth",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(auth.Close)

	now := time.Now()
	token, err := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer:    "https://idp.example.com",
		Audience:  jwt.ClaimStrings{"c2cauth"},
		Subject:   "bench-user",
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}).SignedString(key)
	if err != nil {
		b.Fatal(err)
	}
	return auth, token
}

// newPolicySetup returns the production handler with auth in place of the
// JWT authenticator.
func newPolicySetup(b *testing.B, auth identity.Authenticator, token string) benchSetup {
	b.Helper()
	origins, err := origin.New([]string{siteOrigin})
	if err != nil {
		b.Fatal(err)
	}
	resolver, err := clientip.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	high := ratelimit.Rate{Limit: 1_000_000, Period: time.Second}
	limiter := &ratelimit.Limiter{
		Store:    ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		PerUser:  high,
		PerIP:    high,
		Global:   high,
		ClientIP: resolver.ClientIP,
	}

	h, err := authcode.New(authcode.Config{
		Codes:             staticCodes{},
		Connections:       map[string]string{"default": benchSIPConnection},
		DefaultConnection: "default",
		Authenticator:     auth,
		Origin:            origins,
		Limiter:           limiter,
		CallerPhone:       authcode.PhoneOff,
		Logger:            slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	return benchSetup{handler: requestid.Middleware(mux), token: token}
}

// newBareSetup returns the smallest handler that does the job: it gets a
// code and writes it. It measures what the benchmark itself costs.
func newBareSetup(b *testing.B) benchSetup {
	b.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/auth-code", func(w http.ResponseWriter, r *http.Request) {
		code, err := staticCodes{}.GenerateAuthenticationCode(r.Context(), benchSIPConnection, "")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"authenticationCode":"`+code+`"}`)
	})
	return benchSetup{handler: mux}
}

// newBenchRequest returns the request a browser on the site's page sends.
func newBenchRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", siteOrigin)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// serveOne sends one request through s and returns an error unless it
// gets a code.
func serveOne(s benchSetup) error {
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, newBenchRequest(s.token))
	if w.Code != http.StatusOK {
		return fmt.Errorf("got status %d, want 200; body %s", w.Code, w.Body)
	}
	return nil
}

// BenchmarkHandler measures one auth-code request through the handler,
// without a network: "production" with every policy, and "bare" with none,
// which is the cost of the request and recorder alone.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name  string
		setup func(*testing.B) benchSetup
	}{
		{"bare", newBareSetup},
		{"production", newProductionSetup},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := bc.setup(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := serveOne(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandlerParallel measures the production handler with requests
// from GOMAXPROCS goroutines at once, which adds lock contention in the
// limiter and the logger.
func BenchmarkHandlerParallel(b *testing.B) {
	s := newProductionSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := serveOne(s); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHandlerSignIn measures the production handler with other ways
// of signing the visitor in, to show what verifying the token costs.
// "es256" and "rs256" verify a JWT signature on every request. "es256-cached"
// verifies it once and then finds the token in a cache. "no-signature"
// reads the user from a header with no cryptography at all.
func BenchmarkHandlerSignIn(b *testing.B) {
	for _, bc := range []struct {
		name  string
		setup func(*testing.B) benchSetup
	}{
		{"es256", newProductionSetup},
		{"rs256", func(b *testing.B) benchSetup {
			auth, token := newJWTAuthenticator(b, jwt.SigningMethodRS256)
			return newPolicySetup(b, auth, token)
		}},
		{"es256-cached", func(b *testing.B) benchSetup {
			auth, token := newJWTAuthenticator(b, jwt.SigningMethodES256)
			return newPolicySetup(b, newCachedAuthenticator(auth, time.Minute), token)
		}},
		{"no-signature", func(b *testing.B) benchSetup {
			return newPolicySetup(b, bearerUser, "bench-user")
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := bc.setup(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := serveOne(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bearerUser signs the request in as the user named by its bearer
// credentials, unverified.
var bearerUser = identity.AuthenticatorFunc(func(r *http.Request) (identity.Identity, error) {
	user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || user == "" {
		return identity.Identity{}, identity.ErrUnauthenticated
	}
	return identity.Identity{UserID: user}, nil
})

// cachedAuthenticator remembers the identity of each accepted
// Authorization header for ttl, so that a token's signature is verified
// once rather than on every request. It is a sketch, made to measure what
// such a cache saves: a real one would end each entry at the token's
// expiry too and bound the number of entries.
type cachedAuthenticator struct {
	next identity.Authenticator
	ttl  time.Duration

	mu      sync.Mutex
	entries map[string]cachedIdentity
}

type cachedIdentity struct {
	id      identity.Identity
	expires time.Time
}

func newCachedAuthenticator(next identity.Authenticator, ttl time.Duration) *cachedAuthenticator {
	return &cachedAuthenticator{next: next, ttl: ttl, entries: make(map[string]cachedIdentity)}
}

func (c *cachedAuthenticator) Authenticate(r *http.Request) (identity.Identity, error) {
	key := r.Header.Get("Authorization")
	now := time.Now()
	c.mu.Lock()
	entry, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(entry.expires) {
		return entry.id, nil
	}

	id, err := c.next.Authenticate(r)
	if err != nil {
		return identity.Identity{}, err
	}
	c.mu.Lock()
	c.entries[key] = cachedIdentity{id: id, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return id, nil
}
