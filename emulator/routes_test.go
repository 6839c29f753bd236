package emulator_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/c2cauth/c2cauth/emulator"
)

func TestWrongMethod(t *testing.T) {
	s := startServer(t, emulator.Config{})
	tests := []struct {
		method    string
		path      string
		wantAllow string
	}{
		{method: http.MethodGet, path: "/oauth/token", wantAllow: "POST"},
		{method: http.MethodPut, path: "/oauth/token", wantAllow: "POST"},
		{method: http.MethodGet, path: generatePath(s, s.SIPConnection), wantAllow: "POST"},
		{method: http.MethodGet, path: "/emulator/v1/redeem", wantAllow: "OPTIONS, POST"},
		{method: http.MethodGet, path: "/emulator/v1/faults", wantAllow: "DELETE, POST"},
		{method: http.MethodGet, path: "/emulator/v1/revoke-tokens", wantAllow: "POST"},
		{method: http.MethodPost, path: "/emulator/v1/stats", wantAllow: "GET, HEAD"},
		{method: http.MethodDelete, path: "/emulator/v1/stats", wantAllow: "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := send(t, s, tt.method, tt.path, "", "", nil)
			checkError(t, resp, http.StatusMethodNotAllowed, "method_not_allowed")
			if got := resp.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("got Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestUnknownPath(t *testing.T) {
	s := startServer(t, emulator.Config{})
	for _, path := range []string{
		"/",
		"/oauth/token/",
		"/oauth/authorize",
		"/api/v1/sipConnections",
		"/api/v1/sipConnections/" + s.SIPConnection,
		"/api/v1/sipConnections/" + s.SIPConnection + "/generateAuthenticationCode/extra",
		"/emulator/v1/unknown",
	} {
		t.Run(path, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, path, "application/json", `{}`, nil)
			checkError(t, resp, http.StatusNotFound, "not_found")
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)
	padding := strings.Repeat(" ", 64<<10)

	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		header      http.Header
	}{
		{name: "token", path: "/oauth/token", contentType: "application/x-www-form-urlencoded", body: tokenForm(s.ClientID, s.ClientSecret) + "&pad=" + padding},
		{name: "generate", path: generatePath(s, s.SIPConnection), contentType: "application/json", body: `{}` + padding, header: bearer(token)},
		{name: "redeem", path: "/emulator/v1/redeem", contentType: "application/json", body: `{}` + padding},
		{name: "faults", path: "/emulator/v1/faults", contentType: "application/json", body: `{}` + padding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, tt.path, tt.contentType, tt.body, tt.header)
			if resp.status != http.StatusRequestEntityTooLarge {
				t.Errorf("got status %d, want 413, body %s", resp.status, resp.body)
			}
			if code := errorCode(t, resp); code == "" {
				t.Errorf("got body %s, want a JSON error", resp.body)
			}
		})
	}

	// A body of exactly the cap is accepted.
	body := `{}` + strings.Repeat(" ", 64<<10-2)
	if got := generate(t, s, token, s.SIPConnection, body).status; got != http.StatusOK {
		t.Errorf("body of exactly 64 KiB: got status %d, want 200", got)
	}
}

func TestStats(t *testing.T) {
	s := startServer(t, emulator.Config{})

	token := getToken(t, s)
	send(t, s, http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded", tokenForm(s.ClientID, "wrong"), nil)
	addFault(t, s, emulator.Fault{Endpoint: "all", Status: 503, Count: 2})
	requestToken(t, s)                             // faulted
	generate(t, s, token, s.SIPConnection, `{}`)   // faulted
	generate(t, s, "wrong", s.SIPConnection, `{}`) // 401
	code := getCode(t, s, token, s.SIPConnection, `{}`)
	getCode(t, s, token, s.SIPConnection, `{"callerPhone":"+12025550143"}`)
	redeem(t, s, code, "")
	redeem(t, s, code, "") // 409
	redeem(t, s, "LHv1_unknown", "")

	want := map[string]int64{
		"tokenRequests":    3,
		"generateRequests": 4,
		"codesIssued":      2,
		"redeemed":         1,
	}
	resp := send(t, s, http.MethodGet, "/emulator/v1/stats", "", "", nil)
	if resp.status != http.StatusOK {
		t.Fatalf("got status %d, want 200", resp.status)
	}
	if got := resp.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	var got map[string]int64
	decodeJSON(t, resp.body, &got)
	if !maps.Equal(got, want) {
		t.Errorf("got stats %v, want %v", got, want)
	}

	wantStats := emulator.Stats{TokenRequests: 3, GenerateRequests: 4, CodesIssued: 2, Redeemed: 1}
	if got := s.Emulator.Stats(); got != wantStats {
		t.Errorf("got Stats() %+v, want %+v", got, wantStats)
	}

	if got := send(t, s, http.MethodHead, "/emulator/v1/stats", "", "", nil).status; got != http.StatusOK {
		t.Errorf("HEAD: got status %d, want 200", got)
	}
}

func TestRevokeTokensControl(t *testing.T) {
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)
	resp := send(t, s, http.MethodPost, "/emulator/v1/revoke-tokens", "application/json", `{}`, nil)
	if resp.status != http.StatusNoContent {
		t.Fatalf("revoke: got status %d, want 204", resp.status)
	}
	if len(resp.body) != 0 {
		t.Errorf("revoke: got body %q, want none", resp.body)
	}
	if got := generate(t, s, token, s.SIPConnection, `{}`).status; got != http.StatusUnauthorized {
		t.Errorf("generate after revoke: got status %d, want 401", got)
	}
}
