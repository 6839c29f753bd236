package jwtauth_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/jwtauth"
)

// FuzzAuthenticate feeds arbitrary bearer tokens to an authenticator with a
// static ES256 key. Only a token signed with that key may sign anybody in.
func FuzzAuthenticate(f *testing.F) {
	valid, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims()).SignedString(ecKey())
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(ecKey().Public())
	if err != nil {
		f.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	a, err := jwtauth.New(jwtauth.Config{StaticKey: publicPEM, Issuer: issuer, Audience: audience, Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Close)

	f.Add(valid)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		id, err := a.Authenticate(r)
		if err != nil {
			if !errors.Is(err, identity.ErrUnauthenticated) {
				t.Errorf("token %q: got error %v, want ErrUnauthenticated", token, err)
			}
			return
		}
		if id.UserID != "alice" {
			t.Errorf("token %q signed in %q without a valid signature", token, id.UserID)
		}
	})
}
