package emulator_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

var codePattern = regexp.MustCompile(`^LHv1_[0-9a-f]{32}$`)

func TestGenerateSuccess(t *testing.T) {
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)

	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{name: "empty object", contentType: "application/json", body: `{}`},
		{name: "caller phone", contentType: "application/json", body: `{"callerPhone":"+123456789"}`},
		{name: "shortest phone", contentType: "application/json", body: `{"callerPhone":"+12"}`},
		{name: "longest phone", contentType: "application/json", body: `{"callerPhone":"+123456789012345"}`},
		{name: "unknown member", contentType: "application/json", body: `{"note":"ignored"}`},
		{name: "charset", contentType: "application/json; charset=utf-8", body: " {} \n"},
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, generatePath(s, s.SIPConnection), tt.contentType, tt.body, bearer(token))
			if resp.status != http.StatusOK {
				t.Fatalf("got status %d, want 200, body %s", resp.status, resp.body)
			}
			if got := resp.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			var body map[string]string
			decodeJSON(t, resp.body, &body)
			if len(body) != 1 {
				t.Errorf("got members %v, want only authenticationCode", body)
			}
			code := body["authenticationCode"]
			if !codePattern.MatchString(code) {
				t.Errorf("got code %q, want a match for %s", code, codePattern)
			}
			if seen[code] {
				t.Errorf("got code %q twice", code)
			}
			seen[code] = true
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	const json = "application/json"
	tests := []struct {
		name        string
		prepare     func(t *testing.T, s *emulatortest.Server, c *clock) http.Header // returns the request headers
		connection  string                                                           // empty means the server's
		contentType string
		body        string
		wantStatus  int
		wantError   string
	}{
		{
			name:    "no token",
			prepare: func(*testing.T, *emulatortest.Server, *clock) http.Header { return nil },
			body:    `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{
			name:    "unknown token",
			prepare: func(*testing.T, *emulatortest.Server, *clock) http.Header { return bearer("not-a-token") },
			body:    `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{
			name: "empty bearer",
			prepare: func(*testing.T, *emulatortest.Server, *clock) http.Header {
				return http.Header{"Authorization": {"Bearer "}}
			},
			body: `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{
			name: "basic instead of bearer",
			prepare: func(_ *testing.T, s *emulatortest.Server, _ *clock) http.Header {
				return basicAuth(s.ClientID, s.ClientSecret)
			},
			body: `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{
			name: "expired token",
			prepare: func(t *testing.T, s *emulatortest.Server, c *clock) http.Header {
				token := getToken(t, s)
				c.Advance(time.Hour)
				return bearer(token)
			},
			body: `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{
			name: "revoked token",
			prepare: func(t *testing.T, s *emulatortest.Server, _ *clock) http.Header {
				token := getToken(t, s)
				resp := send(t, s, http.MethodPost, "/emulator/v1/revoke-tokens", "", "", nil)
				if resp.status != http.StatusNoContent {
					t.Fatalf("revoke: got status %d, want 204", resp.status)
				}
				return bearer(token)
			},
			body: `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{
			name:       "unknown connection",
			prepare:    validToken,
			connection: "f399069f-e84f-41e4-ac71-fab2ded73f1c",
			body:       `{}`, wantStatus: 404, wantError: "sip_connection_not_found",
		},
		{
			name:       "unknown connection without token",
			prepare:    func(*testing.T, *emulatortest.Server, *clock) http.Header { return nil },
			connection: "f399069f-e84f-41e4-ac71-fab2ded73f1c",
			body:       `{}`, wantStatus: 401, wantError: "invalid_token",
		},
		{name: "bad JSON", prepare: validToken, body: `{"callerPhone":`, wantStatus: 400, wantError: "invalid_request"},
		{name: "empty body", prepare: validToken, body: ``, wantStatus: 400, wantError: "invalid_request"},
		{name: "array", prepare: validToken, body: `[]`, wantStatus: 400, wantError: "invalid_request"},
		{name: "null", prepare: validToken, body: `null`, wantStatus: 400, wantError: "invalid_request"},
		{name: "string", prepare: validToken, body: `"+123456789"`, wantStatus: 400, wantError: "invalid_request"},
		{name: "two objects", prepare: validToken, body: `{}{}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone without plus", prepare: validToken, body: `{"callerPhone":"123456789"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone leading zero", prepare: validToken, body: `{"callerPhone":"+0123456789"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone too short", prepare: validToken, body: `{"callerPhone":"+1"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone too long", prepare: validToken, body: `{"callerPhone":"+1234567890123456"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone with spaces", prepare: validToken, body: `{"callerPhone":"+1 415 555 0100"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone empty", prepare: validToken, body: `{"callerPhone":""}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone number type", prepare: validToken, body: `{"callerPhone":123456789}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone null", prepare: validToken, body: `{"callerPhone":null}`, wantStatus: 400, wantError: "invalid_request"},
		{
			name: "form content type", prepare: validToken, contentType: "application/x-www-form-urlencoded",
			body: `{}`, wantStatus: 400, wantError: "invalid_request",
		},
		{
			name: "no content type", prepare: validToken, contentType: "-",
			body: `{}`, wantStatus: 400, wantError: "invalid_request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			s := startServer(t, emulator.Config{Now: c.Now})
			header := tt.prepare(t, s, c)
			connection := tt.connection
			if connection == "" {
				connection = s.SIPConnection
			}
			contentType := tt.contentType
			switch contentType {
			case "":
				contentType = json
			case "-":
				contentType = ""
			}

			resp := send(t, s, http.MethodPost, generatePath(s, connection), contentType, tt.body, header)
			checkError(t, resp, tt.wantStatus, tt.wantError)
			if tt.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", resp.header.Get("WWW-Authenticate"))
			}
			if got := s.Emulator.Stats().CodesIssued; got != 0 {
				t.Errorf("got %d codes issued, want 0", got)
			}
		})
	}
}

func TestGenerateTokenLifetime(t *testing.T) {
	c := newClock()
	s := startServer(t, emulator.Config{Now: c.Now, TokenTTL: 15 * time.Minute})
	token := getToken(t, s)

	c.Advance(15*time.Minute - time.Second)
	if got := generate(t, s, token, s.SIPConnection, `{}`).status; got != http.StatusOK {
		t.Errorf("one second before expiry: got status %d, want 200", got)
	}
	c.Advance(time.Second)
	if got := generate(t, s, token, s.SIPConnection, `{}`).status; got != http.StatusUnauthorized {
		t.Errorf("at expiry: got status %d, want 401", got)
	}
}

func TestGenerateAfterRevoke(t *testing.T) {
	s := startServer(t, emulator.Config{})
	first, second := getToken(t, s), getToken(t, s)
	s.Emulator.RevokeTokens()

	for _, token := range []string{first, second} {
		if got := generate(t, s, token, s.SIPConnection, `{}`).status; got != http.StatusUnauthorized {
			t.Errorf("revoked token: got status %d, want 401", got)
		}
	}
	if got := generate(t, s, getToken(t, s), s.SIPConnection, `{}`).status; got != http.StatusOK {
		t.Errorf("token issued after revoke: got status %d, want 200", got)
	}
}

func TestGenerateSeveralConnections(t *testing.T) {
	connections := []string{"5d0c7a1e-0c57-4f0e-9d9a-0f4b1c2e3d4a", "sales", "support line"}
	s := startServer(t, emulator.Config{SIPConnections: connections})
	if s.SIPConnection != connections[0] {
		t.Errorf("got SIPConnection %q, want %q", s.SIPConnection, connections[0])
	}
	token := getToken(t, s)
	for _, id := range connections {
		code := getCode(t, s, token, id, `{}`)
		resp := redeem(t, s, code, "")
		var body map[string]string
		decodeJSON(t, resp.body, &body)
		if body["sipConnectionId"] != id {
			t.Errorf("got sipConnectionId %q, want %q", body["sipConnectionId"], id)
		}
	}
}

func validToken(t *testing.T, s *emulatortest.Server, _ *clock) http.Header {
	return bearer(getToken(t, s))
}
