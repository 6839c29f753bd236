package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenHash is the SHA-256 of an access token. The emulator keeps only
// hashes, so looking a token up takes no time that depends on how much of it
// matches a real one.
type tokenHash [sha256.Size]byte

// tokenResponse is the body of a successful token response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   *int64 `json:"expires_in,omitempty"`
}

// handleToken serves POST /oauth/token, the OAuth 2.0 client credentials
// grant.
func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	if !hasMediaType(r, "application/x-www-form-urlencoded") {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request",
			"Content-Type must be application/x-www-form-urlencoded")
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errBodyTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeOAuthError(w, status, "invalid_request", err.Error())
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "request body is not a valid form: "+err.Error())
		return
	}
	for name, values := range form {
		if len(values) > 1 {
			// RFC 6749 section 3.2 forbids repeating a parameter.
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %q appears more than once", name))
			return
		}
	}
	grantType := form.Get("grant_type")
	if grantType == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "missing grant_type")
		return
	}

	if status, code, description := e.authenticateClient(r, form); status != 0 {
		if status == http.StatusUnauthorized && hasAuthScheme(r, "Basic") {
			w.Header().Set("WWW-Authenticate", `Basic realm="livehub-emulator"`)
		}
		writeOAuthError(w, status, code, description)
		return
	}
	if grantType != "client_credentials" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type",
			fmt.Sprintf("grant_type %q is not supported, use client_credentials", grantType))
		return
	}

	resp := tokenResponse{AccessToken: e.issueToken(), TokenType: "Bearer"}
	if !e.omitExpiresIn {
		// Rounded down, so a client does not keep a token past its expiry. A
		// TTL under a second is reported as 1, because 0 reads as no lifetime.
		seconds := max(int64(e.tokenTTL/time.Second), 1)
		resp.ExpiresIn = &seconds
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient checks the client credentials, sent either with HTTP
// Basic authentication or as client_id and client_secret in the form. It
// returns a zero status when they are right, or else the error to respond with.
func (e *Emulator) authenticateClient(r *http.Request, form url.Values) (status int, code, description string) {
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if hasAuthScheme(r, "Basic") {
		if form.Has("client_secret") {
			// RFC 6749 section 2.3 allows one authentication method per request.
			return http.StatusBadRequest, "invalid_request",
				"client credentials are in both the Authorization header and the form, send them once"
		}
		basicID, basicSecret, ok := basicCredentials(r)
		if !ok {
			return http.StatusUnauthorized, "invalid_client", "malformed Basic credentials"
		}
		if form.Has("client_id") && id != basicID {
			return http.StatusUnauthorized, "invalid_client", "client_id in the form does not match the Basic credentials"
		}
		id, secret = basicID, basicSecret
	}

	if id == "" {
		return http.StatusUnauthorized, "invalid_client", "missing client credentials"
	}
	e.secretMu.Lock()
	clientSecret := e.clientSecret
	e.secretMu.Unlock()
	if e.clientID == "" || clientSecret == "" {
		return http.StatusUnauthorized, "invalid_client", "the emulator has no API client configured"
	}
	if !equalSecret(id, e.clientID) || !equalSecret(secret, clientSecret) {
		return http.StatusUnauthorized, "invalid_client", "unknown client or wrong client secret"
	}
	return 0, "", ""
}

// basicCredentials returns the client ID and secret of the request's Basic
// Authorization header, decoding the form encoding that RFC 6749 section
// 2.3.1 applies to both before base64.
func basicCredentials(r *http.Request) (id, secret string, ok bool) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, errID := url.QueryUnescape(rawID)
	secret, errSecret := url.QueryUnescape(rawSecret)
	if errID != nil || errSecret != nil {
		return "", "", false
	}
	return id, secret, true
}

// hasAuthScheme reports whether the request's Authorization header uses
// scheme, compared without regard to case.
func hasAuthScheme(r *http.Request, scheme string) bool {
	got, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(got, scheme)
}

// equalSecret compares a and b in time that depends on neither their
// contents nor their lengths.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// issueToken creates and records a new access token.
func (e *Emulator) issueToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error
	token := base64.RawURLEncoding.EncodeToString(b)

	now := e.now()
	expiresAt := now.Add(e.tokenTTL)
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	e.tokens.put(sha256.Sum256([]byte(token)), expiresAt, expiresAt, now)
	return token
}

// validToken reports whether the request carries a bearer token that the
// emulator issued, has not revoked, and that has not expired.
func (e *Emulator) validToken(r *http.Request) bool {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}

	now := e.now()
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	expiresAt, ok := e.tokens.get(sha256.Sum256([]byte(token)), now)
	return ok && now.Before(expiresAt)
}

// RevokeTokens invalidates every access token issued so far. Tokens issued
// afterwards are valid as usual.
func (e *Emulator) RevokeTokens() {
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	e.tokens.clear()
}
