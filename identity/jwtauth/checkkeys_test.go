package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c2cauth/c2cauth/identity/jwtauth"
)

func TestCheckKeysCountsUsableKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edPrivate := edKeys()
	keys := []publishedKey{
		rsaPublished("rsa-1", rsaKey()),
		{kid: "ec-1", alg: "ES256", use: "sig", key: ecKey().Public()},
		{kid: "ec-no-alg", key: ecKey().Public()},
		{kid: "enc-1", alg: "RS256", use: "enc", key: rsaKey2().Public()},
		{kid: "rs384", alg: "RS384", use: "sig", key: rsaKey2().Public()},
		{kid: "p384", use: "sig", key: p384.Public()},
		{kid: "ed-1", use: "sig", key: edPrivate.Public()},
	}
	// A symmetric key never verifies tokens from a key set, because HMAC
	// algorithms are not allowed with one.
	const hmacKey = `{"kty":"oct","kid":"hmac","use":"sig","k":"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s"}`
	tests := []struct {
		name       string
		algorithms []string
		want       int
	}{
		{name: "default algorithms", want: 3},                                      // rsa-1, ec-1, ec-no-alg
		{name: "RS384 only", algorithms: []string{"RS384"}, want: 1},               // rs384, because rsa-1 names RS256
		{name: "ES384 and EdDSA", algorithms: []string{"ES384", "EdDSA"}, want: 2}, // p384, ed-1
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newKeyServer(t, keys...)
			server.serve(http.StatusOK, appendRawKey(t, server.body, hmacKey))
			a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL, Algorithms: tt.algorithms})

			got, err := a.CheckKeys(context.Background())
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tt.want {
				t.Errorf("got %d usable keys, want %d", got, tt.want)
			}
			if fetches := server.fetches.Load(); fetches != 1 {
				t.Errorf("got %d key set fetches, want 1 (New's)", fetches)
			}
		})
	}
}

func TestCheckKeysReportsUnusableKeySet(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{name: "not found", status: http.StatusNotFound, body: "no such page", want: "responded with 404 Not Found"},
		{name: "server error", status: http.StatusServiceUnavailable, body: "maintenance", want: "responded with 503 Service Unavailable"},
		{name: "unknown status", status: 599, body: "odd", want: "responded with 599"},
		{name: "HTML page", status: http.StatusOK, body: "<html>sign in</html>", want: "not a JSON Web Key Set"},
		{name: "keys not a list", status: http.StatusOK, body: `{"keys":"rsa-1"}`, want: "not a JSON Web Key Set"},
		{name: "empty set", status: http.StatusOK, body: `{"keys":[]}`, want: "contains no supported keys"},
		{name: "no keys member", status: http.StatusOK, body: `{}`, want: "contains no supported keys"},
		{name: "unsupported key type", status: http.StatusOK, body: `{"keys":[{"kty":"XYZ","kid":"x"}]}`, want: "contains no supported keys"},
		{name: "too large", status: http.StatusOK, body: `{"keys":[],"pad":"` + strings.Repeat("x", jwtauth.MaxKeySetBytes) + `"}`, want: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newKeyServer(t)
			server.serve(tt.status, []byte(tt.body))
			a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})

			got, err := a.CheckKeys(context.Background())
			if err == nil {
				t.Fatalf("got %d usable keys and no error, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to mention %q", err, tt.want)
			}
			if got != 0 {
				t.Errorf("got %d usable keys, want 0", got)
			}
		})
	}
}

func TestCheckKeysNoSigningKey(t *testing.T) {
	server := newKeyServer(t,
		publishedKey{kid: "enc-1", alg: "RS256", use: "enc", key: rsaKey().Public()},
		publishedKey{kid: "rs512", alg: "RS512", use: "sig", key: rsaKey2().Public()},
	)
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL})

	got, err := a.CheckKeys(context.Background())
	if err == nil {
		t.Fatalf("got %d usable keys and no error, want an error", got)
	}
	if want := "contains 2 keys, but none is a signing key for RS256, ES256"; !strings.Contains(err.Error(), want) {
		t.Errorf("got error %q, want it to mention %q", err, want)
	}
}

func TestCheckKeysNamesStatusAndURL(t *testing.T) {
	server := newKeyServer(t)
	server.serve(http.StatusInternalServerError, []byte("oops"))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL + "/jwks.json?client=s3cret"})

	_, err := a.CheckKeys(context.Background())
	if err == nil {
		t.Fatal("got no error, want one")
	}
	if got, want := err.Error(), "the key set URL "+server.URL+"/jwks.json responded with 500 Internal Server Error"; got != want {
		t.Errorf("got error %q, want %q", got, want)
	}
}

func TestCheckKeysRedirectNotFollowed(t *testing.T) {
	server := newKeyServer(t, rsaPublished("rsa-1", rsaKey()))
	redirect := httptest.NewServer(http.RedirectHandler(server.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	followed := newAuthenticator(t, jwtauth.Config{JWKSURL: redirect.URL})
	if got, err := followed.CheckKeys(context.Background()); got != 1 || err != nil {
		t.Errorf("default client: got %d usable keys and error %v, want 1 and none", got, err)
	}
	stopped := newAuthenticator(t, jwtauth.Config{JWKSURL: redirect.URL, HTTPClient: noRedirects})
	_, err := stopped.CheckKeys(context.Background())
	if want := "the key set URL " + redirect.URL + " responded with a redirect, which was not followed"; err == nil || err.Error() != want {
		t.Errorf("client without redirects: got error %v, want %q", err, want)
	}
}

func TestCheckKeysUnreachable(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	url := server.URL
	server.Close()
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: url + "/jwks.json?client=s3cret"})

	_, err := a.CheckKeys(context.Background())
	if err == nil {
		t.Fatal("got no error, want a failed fetch")
	}
	if want := "the request to the key set URL " + url + "/jwks.json failed: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got error %q, want it to start with %q", err, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got error %q, want one without the URL's query", err)
	}
}

func TestCheckKeysAfterFailedRefresh(t *testing.T) {
	server := newKeyServer(t, rsaPublished("rsa-1", rsaKey()))
	a := newAuthenticator(t, jwtauth.Config{JWKSURL: server.URL, UnknownKIDRefreshInterval: time.Second})
	server.serve(http.StatusBadGateway, nil)

	// A token with an unknown key ID makes the key set fetch again.
	a.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey2(), "rsa-2", claims())))
	got, err := a.CheckKeys(context.Background())
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("got error %v, want the failed refresh with status 502", err)
	}
	if got != 1 {
		t.Errorf("got %d usable keys, want the 1 key still cached", got)
	}
}

func TestCheckKeysStaticKey(t *testing.T) {
	a := newAuthenticator(t, jwtauth.Config{StaticKey: pemPublic(t, ecKey())})
	if got, err := a.CheckKeys(context.Background()); got != 1 || err != nil {
		t.Errorf("got %d usable keys and error %v, want 1 and none", got, err)
	}

	a.Close()
	if got, err := a.CheckKeys(context.Background()); err == nil {
		t.Errorf("after Close: got %d usable keys and no error, want an error", got)
	}
}

// appendRawKey returns the key set body with one more key, given as JSON.
func appendRawKey(t *testing.T, body []byte, key string) []byte {
	t.Helper()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	set.Keys = append(set.Keys, json.RawMessage(key))
	out, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
