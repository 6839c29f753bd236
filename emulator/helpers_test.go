package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/internal/clocktest"
)

// clock is a settable clock for Config.Now.
type clock = clocktest.Clock

func newClock() *clock {
	return clocktest.New(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC))
}

// startServer starts an emulator with cfg and closes it when the test ends.
func startServer(t *testing.T, cfg emulator.Config) *emulatortest.Server {
	t.Helper()
	s := emulatortest.NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// response is a finished HTTP exchange, body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request to s and reads the whole response.
func send(t *testing.T, s *emulatortest.Server, method, path, contentType, body string, header http.Header) response {
	t.Helper()
	resp, err := do(s, method, path, contentType, body, header)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// do is send for goroutines other than the test's, which must not call
// t.Fatal.
func do(s *emulatortest.Server, method, path, contentType, body string, header http.Header) (response, error) {
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		return response{}, fmt.Errorf("new request: %w", err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// tokenForm returns a token request body for the client credentials grant.
func tokenForm(clientID, clientSecret string) string {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
	}.Encode()
}

// requestToken requests an access token from s.
func requestToken(t *testing.T, s *emulatortest.Server) response {
	t.Helper()
	return send(t, s, http.MethodPost, "/oauth/token", "application/x-www-form-urlencoded",
		tokenForm(s.ClientID, s.ClientSecret), nil)
}

// getToken returns a new access token from s.
func getToken(t *testing.T, s *emulatortest.Server) string {
	t.Helper()
	resp := requestToken(t, s)
	if resp.status != http.StatusOK {
		t.Fatalf("token request: got status %d, want 200, body %s", resp.status, resp.body)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	decodeJSON(t, resp.body, &body)
	return body.AccessToken
}

// bearer returns an Authorization header with token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// generate requests a code for sipConnectionID from s, with a JSON body.
func generate(t *testing.T, s *emulatortest.Server, token, sipConnectionID, body string) response {
	t.Helper()
	return send(t, s, http.MethodPost, generatePath(s, sipConnectionID), "application/json", body, bearer(token))
}

// generatePath returns the path of the generate endpoint for a connection.
func generatePath(s *emulatortest.Server, sipConnectionID string) string {
	return strings.TrimPrefix(s.GenerateURL(sipConnectionID), s.URL)
}

// getCode returns a new code for sipConnectionID, with body as the generate
// request.
func getCode(t *testing.T, s *emulatortest.Server, token, sipConnectionID, body string) string {
	t.Helper()
	resp := generate(t, s, token, sipConnectionID, body)
	if resp.status != http.StatusOK {
		t.Fatalf("generate for %q: got status %d, want 200, body %s", sipConnectionID, resp.status, resp.body)
	}
	var got struct {
		AuthenticationCode string `json:"authenticationCode"`
	}
	decodeJSON(t, resp.body, &got)
	return got.AuthenticationCode
}

// redeem posts a redeem request for code, with phone when it is not empty.
func redeem(t *testing.T, s *emulatortest.Server, code, phone string) response {
	t.Helper()
	return send(t, s, http.MethodPost, "/emulator/v1/redeem", "application/json", redeemBody(code, phone), nil)
}

// redeemBody returns a redeem request body for code, with phone when it is
// not empty.
func redeemBody(code, phone string) string {
	if phone == "" {
		return fmt.Sprintf(`{"authenticationCode":%q}`, code)
	}
	return fmt.Sprintf(`{"authenticationCode":%q,"callerPhone":%q}`, code, phone)
}

// addFault queues f through the HTTP control endpoint.
func addFault(t *testing.T, s *emulatortest.Server, f emulator.Fault) {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatalf("marshal fault: %v", err)
	}
	resp := send(t, s, http.MethodPost, "/emulator/v1/faults", "application/json", string(data), nil)
	if resp.status != http.StatusNoContent {
		t.Fatalf("add fault %+v: got status %d, want 204, body %s", f, resp.status, resp.body)
	}
}

func decodeJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

// errorCode returns the error member of a JSON error body.
func errorCode(t *testing.T, resp response) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	decodeJSON(t, resp.body, &body)
	return body.Error
}

// checkError checks that resp is an error with status, the given machine
// code, and a JSON body in the emulator's shape.
func checkError(t *testing.T, resp response, status int, code string) {
	t.Helper()
	if resp.status != status {
		t.Errorf("got status %d, want %d, body %s", resp.status, status, resp.body)
	}
	if got := resp.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	var body map[string]string
	decodeJSON(t, resp.body, &body)
	if body["error"] != code {
		t.Errorf("got error %q, want %q", body["error"], code)
	}
	if body["message"] == "" {
		t.Errorf("got no message in %s", resp.body)
	}
}
