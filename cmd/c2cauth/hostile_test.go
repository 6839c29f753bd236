package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "c2cauth-test"
	testOrigin   = "https://www.example.com"
	testPhone    = "+14155550100"
)

// rsaKeys are generated once, because RSA key generation is slow under the
// race detector.
var rsaKeys = sync.OnceValue(func() [3]*rsa.PrivateKey {
	var keys [3]*rsa.PrivateKey
	for i := range keys {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = key
	}
	return keys
})

// keySetServer is an identity provider's JWKS endpoint whose keys a test can
// rotate.
type keySetServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PublicKey
}

func newKeySetServer(t *testing.T, keys map[string]*rsa.PublicKey) *keySetServer {
	t.Helper()
	s := &keySetServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *keySetServer) setKeys(keys map[string]*rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *keySetServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type jwk struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for kid, key := range s.keys {
		set.Keys = append(set.Keys, jwk{
			Kty: "RSA", Kid: kid, Alg: "RS256", Use: "sig",
			N: base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(set)
}

// claims returns valid claims for user alice; change adjusts them.
func claims(change func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":                   testIssuer,
		"aud":                   testAudience,
		"sub":                   "alice",
		"iat":                   now.Unix(),
		"nbf":                   now.Unix(),
		"exp":                   now.Add(10 * time.Minute).Unix(),
		"phone_number":          testPhone,
		"phone_number_verified": true,
	}
	if change != nil {
		change(c)
	}
	return c
}

// signRS256 signs claims with key under key ID kid.
func signRS256(t *testing.T, key *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	token := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	token.Header["kid"] = kid
	signed, err := token.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// startJWTBackend runs `c2cauth serve --auth jwt` against a fresh emulator
// and a JWKS server holding key 0 under key ID "k0".
func startJWTBackend(t *testing.T, extra ...string) (backendURL string, em *emulatortest.Server, keySet *keySetServer) {
	t.Helper()
	em = emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	keySet = newKeySetServer(t, map[string]*rsa.PublicKey{"k0": &rsaKeys()[0].PublicKey})
	args := append([]string{"serve",
		"--listen", "127.0.0.1:0",
		"--livehub-url", em.URL,
		"--client-id", em.ClientID,
		"--sip-connection", em.SIPConnection,
		"--auth", "jwt",
		"--jwt-jwks-url", keySet.URL,
		"--jwt-issuer", testIssuer,
		"--jwt-audience", testAudience,
		"--allowed-origins", testOrigin,
		"--limit-user", "off", "--limit-ip", "off", "--limit-global", "off",
	}, extra...)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, args...)
	return p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1], em, keySet
}

// hostileRequest is one request that the backend must reject.
type hostileRequest struct {
	name    string
	method  string
	path    string
	header  map[string]string
	body    string
	status  int
	code    string
	noToken bool   // send no Authorization header
	token   string // use this token instead of a valid one
}

func TestHostileRequests(t *testing.T) {
	backendURL, em, _ := startJWTBackend(t)
	keys := rsaKeys()
	valid := signRS256(t, keys[0], "k0", claims(nil))

	publicPEM, err := x509.MarshalPKIXPublicKey(&keys[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicPEM}))
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	tamperedClaims, _ := json.Marshal(claims(func(c jwt.MapClaims) { c["sub"] = "mallory" }))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedClaims) + "." + parts[2]

	jsonHeader := map[string]string{"Content-Type": "application/json"}
	tests := []hostileRequest{
		{name: "cross-site foreign origin", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, status: 403, code: "origin_not_allowed"},
		{name: "same-site sibling origin", header: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://shop.example.com"}, status: 403, code: "origin_not_allowed"},
		{name: "cross-site without origin", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403, code: "origin_not_allowed"},
		{name: "foreign origin without fetch metadata", header: map[string]string{"Origin": "https://evil.example"}, status: 403, code: "origin_not_allowed"},
		{name: "null origin cross-site", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "null"}, status: 403, code: "origin_not_allowed"},
		{name: "null origin", header: map[string]string{"Origin": "null"}, status: 403, code: "origin_not_allowed"},
		{name: "text/plain body", header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "form body", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "callerPhone=%2B1", status: 415, code: "unsupported_media_type"},
		{name: "multipart body", header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, body: "--x--", status: 415, code: "unsupported_media_type"},
		{name: "no content type", header: map[string]string{}, status: 415, code: "unsupported_media_type"},
		{name: "100 KB body", header: jsonHeader, body: `{"callerPhone":"` + strings.Repeat("1", 100<<10) + `"}`, status: 413, code: "body_too_large"},
		{name: "trailing garbage", header: jsonHeader, body: `{} garbage`, status: 400, code: "invalid_request"},
		{name: "two objects", header: jsonHeader, body: `{}{}`, status: 400, code: "invalid_request"},
		{name: "duplicate callerPhone", header: jsonHeader, body: `{"callerPhone":"+14155550100","callerPhone":"+442079460018"}`, status: 400, code: "invalid_request"},
		{name: "array body", header: jsonHeader, body: `[{}]`, status: 400, code: "invalid_request"},
		{name: "string body", header: jsonHeader, body: `"{}"`, status: 400, code: "invalid_request"},
		{name: "null body", header: jsonHeader, body: `null`, status: 400, code: "invalid_request"},
		{name: "empty body", header: jsonHeader, body: ``, status: 400, code: "invalid_request"},
		{name: "invalid UTF-8", header: jsonHeader, body: "{\"callerPhone\":\"+1415555\xff0100\"}", status: 400, code: "invalid_request"},
		{name: "unknown field", header: jsonHeader, body: `{"sipConnectionId":"f399069f-e84f-41e4-ac71-fab2ded73f1c"}`, status: 400, code: "invalid_request"},
		{name: "phone as number", header: jsonHeader, body: `{"callerPhone":14155550100}`, status: 400, code: "invalid_request"},
		{name: "invalid phone", header: jsonHeader, body: `{"callerPhone":"12"}`, status: 400, code: "invalid_caller_phone"},
		{name: "phone without digits", header: jsonHeader, body: `{"callerPhone":"call me"}`, status: 400, code: "invalid_caller_phone"},
		{name: "vanity phone of another", header: jsonHeader, body: `{"callerPhone":"+1-800-FLOWERS"}`, status: 403, code: "caller_phone_not_allowed"},
		{name: "premium-rate foreign phone", header: jsonHeader, body: `{"callerPhone":"+881612345678"}`, status: 403, code: "caller_phone_not_allowed"},
		{name: "foreign phone", header: jsonHeader, body: `{"callerPhone":"+442079460018"}`, status: 403, code: "caller_phone_not_allowed"},
		{name: "GET", method: http.MethodGet, header: jsonHeader, status: 405, code: "method_not_allowed"},
		{name: "DELETE", method: http.MethodDelete, header: jsonHeader, status: 405, code: "method_not_allowed"},
		{name: "connection ID in path", path: "/v1/auth-code/f399069f-e84f-41e4-ac71-fab2ded73f1c", header: jsonHeader, status: 404, code: "unknown_connection"},
		{name: "no token", header: jsonHeader, noToken: true, status: 401, code: "unauthenticated"},
		{name: "expired token", header: jsonHeader, token: signRS256(t, keys[0], "k0", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Minute).Unix() })), status: 401, code: "unauthenticated"},
		{name: "token not yet valid", header: jsonHeader, token: signRS256(t, keys[0], "k0", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(10 * time.Minute).Unix() })), status: 401, code: "unauthenticated"},
		{name: "wrong issuer", header: jsonHeader, token: signRS256(t, keys[0], "k0", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), status: 401, code: "unauthenticated"},
		{name: "wrong audience", header: jsonHeader, token: signRS256(t, keys[0], "k0", claims(func(c jwt.MapClaims) { c["aud"] = "another-app" })), status: 401, code: "unauthenticated"},
		{name: "alg none", header: jsonHeader, token: unsigned, status: 401, code: "unauthenticated"},
		{name: "HS256 with the public key", header: jsonHeader, token: confused, status: 401, code: "unauthenticated"},
		{name: "unknown key", header: jsonHeader, token: signRS256(t, keys[1], "k-unknown", claims(nil)), status: 401, code: "unauthenticated"},
		{name: "wrong key under known ID", header: jsonHeader, token: signRS256(t, keys[1], "k0", claims(nil)), status: 401, code: "unauthenticated"},
		{name: "tampered claims", header: jsonHeader, token: tampered, status: 401, code: "unauthenticated"},
		{name: "malformed token", header: jsonHeader, token: "not-a-jwt", status: 401, code: "unauthenticated"},
	}
	before := em.Emulator.Stats()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := valid
			if tt.token != "" {
				token = tt.token
			}
			if tt.noToken {
				token = ""
			}
			checkHostile(t, backendURL, tt, "Bearer "+token)
		})
	}
	if after := em.Emulator.Stats(); after.GenerateRequests != before.GenerateRequests {
		t.Errorf("hostile requests reached Live Hub %d times, want 0", after.GenerateRequests-before.GenerateRequests)
	}

	// The valid token itself works, so the rejections above are the
	// hostile parts' doing.
	checkHostile(t, backendURL, hostileRequest{name: "valid", header: jsonHeader, body: `{}`, status: 200}, "Bearer "+valid)
}

// checkHostile sends tt and checks its status and error code.
func checkHostile(t *testing.T, backendURL string, tt hostileRequest, authorization string) {
	t.Helper()
	method := tt.method
	if method == "" {
		method = http.MethodPost
	}
	path := tt.path
	if path == "" {
		path = "/v1/auth-code"
	}
	body := tt.body
	if body == "" && tt.status != 400 {
		body = "{}"
	}
	req, err := http.NewRequest(method, backendURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tt.header {
		req.Header.Set(k, v)
	}
	if authorization != "Bearer " {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != tt.status {
		t.Errorf("got status %d, want %d (body %s)", resp.StatusCode, tt.status, data)
	}
	if resp.StatusCode >= 500 {
		t.Errorf("a hostile request got a server error: %s", data)
	}
	if tt.code == "" {
		return
	}
	var e struct{ Error, Message string }
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", data, err)
	}
	if e.Error != tt.code {
		t.Errorf("got error %q, want %q", e.Error, tt.code)
	}
	if e.Message == "" {
		t.Error("error message is empty")
	}
}

func TestHostileSessionCookies(t *testing.T) {
	p := start(t, nil, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	backendURL := p.waitFor(t, `demo page\s+(http://127\.0\.0\.1:\d+)/`)[1]
	emulatorURL := p.waitFor(t, `Live Hub emulator\s+(http://127\.0\.0\.1:\d+)`)[1]

	// A session from another dev process is signed with another key.
	other := start(t, nil, "dev", "--listen", "127.0.0.1:0", "--emulator-listen", "127.0.0.1:0")
	otherURL := other.waitFor(t, `demo page\s+(http://127\.0\.0\.1:\d+)/`)[1]
	foreign := signInCookie(t, otherURL, "alice")
	own := signInCookie(t, backendURL, "alice")
	payload, signature, _ := strings.Cut(own, ".")
	forgedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"u":"mallory","e":4102444800}`))

	tests := []struct {
		name   string
		cookie string
	}{
		{"other process's cookie", foreign},
		{"forged payload with own signature", forgedPayload + "." + signature},
		{"tampered signature", payload + "." + strings.Repeat("A", len(signature))},
		{"no signature", payload},
		{"garbage", "%%%"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkHostile(t, backendURL, hostileRequest{
				header: map[string]string{"Content-Type": "application/json", "Cookie": "c2cauth_dev_session=" + tt.cookie},
				status: 401, code: "unauthenticated",
			}, "Bearer ")
		})
	}
	if got := emulatorStats(t, emulatorURL).GenerateRequests; got != 0 {
		t.Errorf("forged sessions reached Live Hub %d times, want 0", got)
	}
}

func TestSpoofedForwardedFor(t *testing.T) {
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, "serve",
		"--listen", "127.0.0.1:0",
		"--livehub-url", em.URL,
		"--client-id", em.ClientID,
		"--sip-connection", em.SIPConnection,
		"--auth", "none",
		"--trusted-proxies", "10.0.0.0/8",
		"--limit-ip", "1/1m")
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]
	jsonHeader := map[string]string{"Content-Type": "application/json"}

	checkHostile(t, backendURL, hostileRequest{header: jsonHeader, status: 200}, "Bearer ")
	before := em.Emulator.Stats()
	for _, forwarded := range []string{"203.0.113.9", "203.0.113.10, 10.0.0.1", "2001:db8::1"} {
		t.Run(forwarded, func(t *testing.T) {
			checkHostile(t, backendURL, hostileRequest{
				header: map[string]string{"Content-Type": "application/json", "X-Forwarded-For": forwarded},
				status: 429, code: "rate_limited",
			}, "Bearer ")
		})
	}
	if after := em.Emulator.Stats(); after.GenerateRequests != before.GenerateRequests {
		t.Errorf("spoofed requests reached Live Hub %d times, want 0", after.GenerateRequests-before.GenerateRequests)
	}
}

func TestJWTKeyRotation(t *testing.T) {
	backendURL, _, keySet := startJWTBackend(t)
	keys := rsaKeys()
	jsonHeader := map[string]string{"Content-Type": "application/json"}
	oldToken := signRS256(t, keys[0], "k0", claims(nil))
	newToken := signRS256(t, keys[2], "k2", claims(nil))

	checkHostile(t, backendURL, hostileRequest{header: jsonHeader, status: 200}, "Bearer "+oldToken)

	// The provider rotates to a new key and retires the old one. A token
	// with the new key ID makes c2cauth fetch the key set again.
	keySet.setKeys(map[string]*rsa.PublicKey{"k2": &keys[2].PublicKey})
	checkHostile(t, backendURL, hostileRequest{header: jsonHeader, status: 200}, "Bearer "+newToken)
	checkHostile(t, backendURL, hostileRequest{header: jsonHeader, status: 401, code: "unauthenticated"}, "Bearer "+oldToken)
}

func TestForwardAuth(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookie, err := r.Cookie("site_session")
		if err != nil || cookie.Value != "valid-session" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"user":"carol","phone":"+14155550100"}`)
	}))
	t.Cleanup(site.Close)
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)
	p := start(t, map[string]string{"LIVEHUB_CLIENT_SECRET": em.ClientSecret}, "serve",
		"--listen", "127.0.0.1:0",
		"--livehub-url", em.URL,
		"--client-id", em.ClientID,
		"--sip-connection", em.SIPConnection,
		"--auth", "forward",
		"--forward-url", site.URL+"/session")
	backendURL := p.waitFor(t, `listening on (http://127\.0\.0\.1:\d+)`)[1]
	withCookie := func(value string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "Cookie": "site_session=" + value}
	}

	checkHostile(t, backendURL, hostileRequest{header: withCookie("valid-session"), status: 200}, "Bearer ")
	checkHostile(t, backendURL, hostileRequest{header: withCookie("valid-session"), body: `{"callerPhone":"+442079460018"}`, status: 403, code: "caller_phone_not_allowed"}, "Bearer ")
	checkHostile(t, backendURL, hostileRequest{header: withCookie("stolen"), status: 401, code: "unauthenticated"}, "Bearer ")
	checkHostile(t, backendURL, hostileRequest{header: map[string]string{"Content-Type": "application/json"}, status: 401, code: "unauthenticated"}, "Bearer ")

	site.Close()
	resp := postWithCookie(t, backendURL, "valid-session")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("site down: got %d with Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func postWithCookie(t *testing.T, backendURL, session string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, backendURL+"/v1/auth-code", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "site_session="+session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signInCookie signs user in at a dev server and returns the session
// cookie's value.
func signInCookie(t *testing.T, backendURL, user string) string {
	t.Helper()
	resp, err := http.Post(backendURL+"/dev/login", "application/json", strings.NewReader(`{"user":"`+user+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "c2cauth_dev_session" {
			return c.Value
		}
	}
	t.Fatalf("sign-in set no session cookie (status %d)", resp.StatusCode)
	return ""
}

func emulatorStats(t *testing.T, emulatorURL string) emulator.Stats {
	t.Helper()
	resp, err := http.Get(emulatorURL + "/emulator/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats emulator.Stats
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	return stats
}
