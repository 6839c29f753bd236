package emulator_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/c2cauth/c2cauth/emulator"
)

// A secret with characters that form encoding changes, so both the form and
// the Basic credentials must be decoded to match.
const oddSecret = "s3cret +/=&?%"

func basicAuth(id, secret string) http.Header {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(raw))}}
}

func TestTokenEndpoint(t *testing.T) {
	s := startServer(t, emulator.Config{ClientSecret: oddSecret})
	const form = "application/x-www-form-urlencoded"
	grantOnly := "grant_type=client_credentials"

	tests := []struct {
		name        string
		contentType string
		body        string
		header      http.Header
		wantStatus  int
		wantError   string
		wantBasic   bool // WWW-Authenticate: Basic expected
	}{
		{name: "form", contentType: form, body: tokenForm(s.ClientID, oddSecret), wantStatus: 200},
		{name: "form with charset", contentType: form + "; charset=utf-8", body: tokenForm(s.ClientID, oddSecret), wantStatus: 200},
		{name: "basic", contentType: form, body: grantOnly, header: basicAuth(s.ClientID, oddSecret), wantStatus: 200},
		{
			name: "basic and same form client_id", contentType: form,
			body:   grantOnly + "&client_id=" + s.ClientID,
			header: basicAuth(s.ClientID, oddSecret), wantStatus: 200,
		},
		{
			name: "wrong secret", contentType: form, body: tokenForm(s.ClientID, "wrong"),
			wantStatus: 401, wantError: "invalid_client",
		},
		{
			name: "unknown client", contentType: form, body: tokenForm("other-client", oddSecret),
			wantStatus: 401, wantError: "invalid_client",
		},
		{
			name: "no credentials", contentType: form, body: grantOnly,
			wantStatus: 401, wantError: "invalid_client",
		},
		{
			name: "basic wrong secret", contentType: form, body: grantOnly, header: basicAuth(s.ClientID, "wrong"),
			wantStatus: 401, wantError: "invalid_client", wantBasic: true,
		},
		{
			name: "basic unescaped secret", contentType: form, body: grantOnly,
			header:     http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(s.ClientID+":"+oddSecret))}},
			wantStatus: 401, wantError: "invalid_client", wantBasic: true,
		},
		{
			name: "basic not base64", contentType: form, body: grantOnly,
			header:     http.Header{"Authorization": {"Basic !!!"}},
			wantStatus: 401, wantError: "invalid_client", wantBasic: true,
		},
		{
			name: "basic and form client_id differ", contentType: form, body: grantOnly + "&client_id=other",
			header:     basicAuth(s.ClientID, oddSecret),
			wantStatus: 401, wantError: "invalid_client", wantBasic: true,
		},
		{
			name: "basic and form secret", contentType: form, body: tokenForm(s.ClientID, oddSecret),
			header:     basicAuth(s.ClientID, oddSecret),
			wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "wrong grant", contentType: form,
			body:       "grant_type=password&client_id=" + s.ClientID + "&client_secret=" + url.QueryEscape(oddSecret),
			wantStatus: 400, wantError: "unsupported_grant_type",
		},
		{
			name: "missing grant", contentType: form,
			body:       "client_id=" + s.ClientID + "&client_secret=" + url.QueryEscape(oddSecret),
			wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "repeated parameter", contentType: form, body: tokenForm(s.ClientID, oddSecret) + "&grant_type=client_credentials",
			wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "malformed form", contentType: form, body: "grant_type=%zz",
			wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "JSON body", contentType: "application/json",
			body:       `{"grant_type":"client_credentials","client_id":"test-client"}`,
			wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "no content type", body: tokenForm(s.ClientID, oddSecret),
			wantStatus: 400, wantError: "invalid_request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, "/oauth/token", tt.contentType, tt.body, tt.header)
			if resp.status != tt.wantStatus {
				t.Fatalf("got status %d, want %d, body %s", resp.status, tt.wantStatus, resp.body)
			}
			if got := resp.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("got Cache-Control %q, want no-store", got)
			}
			challenge := resp.header.Get("WWW-Authenticate")
			if tt.wantBasic && challenge == "" {
				t.Errorf("got no WWW-Authenticate header, want a Basic challenge")
			}
			if !tt.wantBasic && challenge != "" {
				t.Errorf("got WWW-Authenticate %q, want none", challenge)
			}
			if tt.wantStatus == http.StatusOK {
				checkTokenResponse(t, resp, 3600)
				return
			}

			var body map[string]string
			decodeJSON(t, resp.body, &body)
			if body["error"] != tt.wantError {
				t.Errorf("got error %q, want %q", body["error"], tt.wantError)
			}
			if body["error_description"] == "" {
				t.Errorf("got no error_description in %s", resp.body)
			}
		})
	}
}

// checkTokenResponse checks the body of a successful token response.
func checkTokenResponse(t *testing.T, resp response, wantExpiresIn int) {
	t.Helper()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	decodeJSON(t, resp.body, &body)
	if len(body.AccessToken) < 40 {
		t.Errorf("got access_token %q, want at least 40 characters", body.AccessToken)
	}
	if body.TokenType != "Bearer" {
		t.Errorf("got token_type %q, want Bearer", body.TokenType)
	}
	if body.ExpiresIn != wantExpiresIn {
		t.Errorf("got expires_in %d, want %d", body.ExpiresIn, wantExpiresIn)
	}
}

func TestTokenUnique(t *testing.T) {
	s := startServer(t, emulator.Config{})
	seen := make(map[string]bool)
	for range 50 {
		token := getToken(t, s)
		if seen[token] {
			t.Fatalf("got token %q twice", token)
		}
		seen[token] = true
	}
}

func TestTokenExpiresIn(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		want int
	}{
		{name: "default", want: 3600},
		{name: "documented example", ttl: 15 * time.Minute, want: 900},
		{name: "rounded down", ttl: 90500 * time.Millisecond, want: 90},
		{name: "under a second", ttl: 300 * time.Millisecond, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, emulator.Config{TokenTTL: tt.ttl})
			checkTokenResponse(t, requestToken(t, s), tt.want)
		})
	}
}

func TestTokenOmitExpiresIn(t *testing.T) {
	c := newClock()
	s := startServer(t, emulator.Config{OmitExpiresIn: true, TokenTTL: time.Minute, Now: c.Now})
	resp := requestToken(t, s)
	var body map[string]any
	decodeJSON(t, resp.body, &body)
	if _, ok := body["expires_in"]; ok {
		t.Errorf("got expires_in in %s, want none", resp.body)
	}
	if body["access_token"] == "" || body["token_type"] != "Bearer" {
		t.Errorf("got %s, want an access_token and token_type Bearer", resp.body)
	}

	// The token still expires after TokenTTL.
	token, _ := body["access_token"].(string)
	c.Advance(time.Minute)
	if got := generate(t, s, token, s.SIPConnection, `{}`).status; got != http.StatusUnauthorized {
		t.Errorf("generate after TokenTTL: got status %d, want 401", got)
	}
}

func TestTokenNoClientConfigured(t *testing.T) {
	srv := httptest.NewServer(emulator.New(emulator.Config{ClientID: "only-id"}))
	defer srv.Close()

	resp, err := srv.Client().PostForm(srv.URL+"/oauth/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {"only-id"},
		"client_secret": {""},
	})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("got status %d, want 401", resp.StatusCode)
	}
}

// TestTokenOAuth2Client checks interoperability with golang.org/x/oauth2 in
// both of its client authentication styles.
func TestTokenOAuth2Client(t *testing.T) {
	s := startServer(t, emulator.Config{ClientSecret: oddSecret})
	styles := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{name: "params", style: oauth2.AuthStyleInParams},
		{name: "header", style: oauth2.AuthStyleInHeader},
		{name: "auto detect", style: oauth2.AuthStyleAutoDetect},
	}
	for _, tt := range styles {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientcredentials.Config{
				ClientID:     s.ClientID,
				ClientSecret: oddSecret,
				TokenURL:     s.TokenURL(),
				AuthStyle:    tt.style,
			}
			ctx := context.WithValue(t.Context(), oauth2.HTTPClient, s.Client())
			token, err := cfg.Token(ctx)
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if token.AccessToken == "" {
				t.Errorf("got empty access token")
			}
			if until := time.Until(token.Expiry); until < 59*time.Minute || until > time.Hour {
				t.Errorf("got expiry in %v, want about 1h", until)
			}
			if got := generate(t, s, token.AccessToken, s.SIPConnection, `{}`).status; got != http.StatusOK {
				t.Errorf("generate with the token: got status %d, want 200", got)
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: s.ClientID, ClientSecret: "wrong", TokenURL: s.TokenURL()}
		ctx := context.WithValue(t.Context(), oauth2.HTTPClient, s.Client())
		_, err := cfg.Token(ctx)
		var retrieveErr *oauth2.RetrieveError
		if !errors.As(err, &retrieveErr) {
			t.Fatalf("got error %v, want *oauth2.RetrieveError", err)
		}
		if retrieveErr.ErrorCode != "invalid_client" {
			t.Errorf("got error code %q, want invalid_client", retrieveErr.ErrorCode)
		}
	})
}
