package authcode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/internal/syncbuf"
	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/origin"
	"github.com/c2cauth/c2cauth/ratelimit"
)

var codePattern = regexp.MustCompile(`^\{"authenticationCode":"LHv1_[0-9a-f]{32}"\}$`)

// alice is the signed-in user of most tests.
var alice = identity.Identity{UserID: "alice", Phone: "+14155550100"}

// headerAuth signs a request in as the user named in the X-Test-User
// header, with the phone in X-Test-Phone. A request without the header is
// not signed in.
var headerAuth = identity.AuthenticatorFunc(func(r *http.Request) (identity.Identity, error) {
	user := r.Header.Get("X-Test-User")
	if user == "" {
		return identity.Identity{}, identity.ErrUnauthenticated
	}
	return identity.Identity{UserID: user, Phone: r.Header.Get("X-Test-Phone")}, nil
})

// fixture is a backend in front of a real emulator, both on loopback.
type fixture struct {
	emulator *emulatortest.Server
	client   *livehub.Client
	backend  *httptest.Server
	logs     *syncBuffer
}

// newFixture starts an emulator and a backend; change adjusts the backend
// configuration before the handler is built.
func newFixture(t *testing.T, change func(*authcode.Config)) *fixture {
	t.Helper()
	em := emulatortest.NewServer(emulator.Config{})
	t.Cleanup(em.Close)

	client := &livehub.Client{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret}
	logs := &syncBuffer{}
	cfg := authcode.Config{
		Codes:             client,
		Connections:       map[string]string{"default": em.SIPConnection, "sales": em.SIPConnection, "ghost": "00000000-0000-4000-8000-000000000000"},
		DefaultConnection: "default",
		Authenticator:     headerAuth,
		Logger:            slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if change != nil {
		change(&cfg)
	}
	h, err := authcode.New(cfg)
	if err != nil {
		t.Fatalf("authcode.New: %v", err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	backend := httptest.NewServer(mux)
	t.Cleanup(backend.Close)
	return &fixture{emulator: em, client: client, backend: backend, logs: logs}
}

// post sends a signed-in JSON request to path.
func (f *fixture) post(t *testing.T, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.backend.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-User", alice.UserID)
	req.Header.Set("X-Test-Phone", alice.Phone)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return resp
}

// readBody reads and closes the response body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type errorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// checkError checks that resp is a JSON error with status and code.
func checkError(t *testing.T, resp *http.Response, status int, code authcode.ErrorCode) errorResponse {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != status {
		t.Errorf("got status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	var e errorResponse
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Error != string(code) {
		t.Errorf("got error code %q, want %q", e.Error, code)
	}
	if e.Message == "" {
		t.Error("error message is empty")
	}
	return e
}

func TestIssuesCode(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/v1/auth-code", "/v1/auth-code/sales"} {
		t.Run(path, func(t *testing.T) {
			resp := f.post(t, path, `{}`)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d, want 200 (body %s)", resp.StatusCode, body)
			}
			if !codePattern.MatchString(body) {
				t.Errorf("got body %q, want exactly {\"authenticationCode\":\"LHv1_...\"}", body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("got Cache-Control %q, want no-store", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
		})
	}
}

func TestCodeAssertsIdentityPhone(t *testing.T) {
	f := newFixture(t, nil)
	body := readBody(t, f.post(t, "/v1/auth-code", `{"callerPhone":"+1 (415) 555-0100"}`))
	var issued struct{ AuthenticationCode string }
	if err := json.Unmarshal([]byte(body), &issued); err != nil || issued.AuthenticationCode == "" {
		t.Fatalf("no code in %q: %v", body, err)
	}

	redeem := func(phone string) int {
		payload, _ := json.Marshal(map[string]string{"authenticationCode": issued.AuthenticationCode, "callerPhone": phone})
		resp, err := http.Post(f.emulator.URL+"/emulator/v1/redeem", "application/json", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := redeem("+14155550199"); got != http.StatusForbidden {
		t.Errorf("redeem from another phone: got %d, want 403", got)
	}
	if got := redeem(alice.Phone); got != http.StatusOK {
		t.Errorf("redeem from the user's phone: got %d, want 200", got)
	}
}

func TestRejectsRequests(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		signedOut   bool
		status      int
		code        authcode.ErrorCode
	}{
		{"get", http.MethodGet, "/v1/auth-code", "", "", false, 405, authcode.CodeMethodNotAllowed},
		{"put", http.MethodPut, "/v1/auth-code", "application/json", "{}", false, 405, authcode.CodeMethodNotAllowed},
		{"signed out", http.MethodPost, "/v1/auth-code", "application/json", "{}", true, 401, authcode.CodeUnauthenticated},
		{"unknown connection", http.MethodPost, "/v1/auth-code/nope", "application/json", "{}", false, 404, authcode.CodeUnknownConnection},
		{"form", http.MethodPost, "/v1/auth-code", "application/x-www-form-urlencoded", "callerPhone=1", false, 415, authcode.CodeUnsupportedMediaType},
		{"text", http.MethodPost, "/v1/auth-code", "text/plain", "{}", false, 415, authcode.CodeUnsupportedMediaType},
		{"too large", http.MethodPost, "/v1/auth-code", "application/json", `{"callerPhone":"` + strings.Repeat("1", 5000) + `"}`, false, 413, authcode.CodeBodyTooLarge},
		{"empty body", http.MethodPost, "/v1/auth-code", "application/json", "", false, 400, authcode.CodeInvalidRequest},
		{"array", http.MethodPost, "/v1/auth-code", "application/json", "[]", false, 400, authcode.CodeInvalidRequest},
		{"trailing data", http.MethodPost, "/v1/auth-code", "application/json", "{}{}", false, 400, authcode.CodeInvalidRequest},
		{"duplicate phone", http.MethodPost, "/v1/auth-code", "application/json", `{"callerPhone":"+14155550100","callerPhone":"+14155550199"}`, false, 400, authcode.CodeInvalidRequest},
		{"unknown field", http.MethodPost, "/v1/auth-code", "application/json", `{"sipConnectionId":"x"}`, false, 400, authcode.CodeInvalidRequest},
		{"invalid phone", http.MethodPost, "/v1/auth-code", "application/json", `{"callerPhone":"12"}`, false, 400, authcode.CodeInvalidCallerPhone},
		{"other phone", http.MethodPost, "/v1/auth-code", "application/json", `{"callerPhone":"+14155550199"}`, false, 403, authcode.CodeCallerPhoneNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, f.backend.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if !tt.signedOut {
				req.Header.Set("X-Test-User", alice.UserID)
				req.Header.Set("X-Test-Phone", alice.Phone)
			}
			resp := do(t, req)
			checkError(t, resp, tt.status, tt.code)
			if tt.status == 405 && resp.Header.Get("Allow") != "OPTIONS, POST" {
				t.Errorf("got Allow %q, want %q", resp.Header.Get("Allow"), "OPTIONS, POST")
			}
		})
	}
	if got := f.emulator.Emulator.Stats().GenerateRequests; got != 0 {
		t.Errorf("rejected requests reached Live Hub %d times, want 0", got)
	}
}

func TestLongConnectionNameNotEchoed(t *testing.T) {
	f := newFixture(t, nil)
	name := strings.Repeat("a", 5000)
	e := checkError(t, f.post(t, "/v1/auth-code/"+name, `{}`), 404, authcode.CodeUnknownConnection)
	if strings.Contains(e.Message, name[:100]) {
		t.Errorf("message echoes the long name: %.120s", e.Message)
	}
	if strings.Contains(f.logs.String(), name[:100]) {
		t.Error("log records the long name whole")
	}
}

func TestInvalidPhoneMessageSaysWhy(t *testing.T) {
	f := newFixture(t, nil)
	e := checkError(t, f.post(t, "/v1/auth-code", `{"callerPhone":"4155550100"}`), 400, authcode.CodeInvalidCallerPhone)
	if !strings.Contains(e.Message, "must start with +") {
		t.Errorf("message %q does not say the number needs a country code", e.Message)
	}
}

func TestPhoneModes(t *testing.T) {
	tests := []struct {
		name      string
		mode      authcode.PhoneMode
		userPhone string
		body      string
		status    int
		asserted  string
	}{
		{"identity uses user phone", authcode.PhoneFromIdentity, "+14155550100", `{}`, 200, "+14155550100"},
		{"identity same phone", authcode.PhoneFromIdentity, "+14155550100", `{"callerPhone":"+1 415 555 0100"}`, 200, "+14155550100"},
		{"identity without phone", authcode.PhoneFromIdentity, "", `{}`, 200, ""},
		{"identity rejects phone without user phone", authcode.PhoneFromIdentity, "", `{"callerPhone":"+14155550100"}`, 403, ""},
		{"request uses request phone", authcode.PhoneFromRequest, "+14155550100", `{"callerPhone":"+442079460018"}`, 200, "+442079460018"},
		{"request falls back to user phone", authcode.PhoneFromRequest, "+14155550100", `{}`, 200, "+14155550100"},
		{"off ignores phones", authcode.PhoneOff, "+14155550100", `{"callerPhone":"+442079460018"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codes := &recordingSource{}
			f := newFixture(t, func(cfg *authcode.Config) {
				cfg.CallerPhone = tt.mode
				cfg.Codes = codes
			})
			req, _ := http.NewRequest(http.MethodPost, f.backend.URL+"/v1/auth-code", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-User", "bob")
			req.Header.Set("X-Test-Phone", tt.userPhone)
			resp := do(t, req)
			body := readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("got status %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 && codes.lastPhone() != tt.asserted {
				t.Errorf("asserted phone %q, want %q", codes.lastPhone(), tt.asserted)
			}
		})
	}
}

func TestLiveHubErrors(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		body       string
		fault      *emulator.Fault
		status     int
		code       authcode.ErrorCode
		message    string
		retryAfter string
	}{
		{"unknown SIP connection", "/v1/auth-code/ghost", `{}`, nil, 502, authcode.CodeLiveHubRejected, `"ghost"`, ""},
		{"phone rejected", "/v1/auth-code", `{"callerPhone":"+14155550100"}`, &emulator.Fault{Endpoint: "generate", Status: 400, Count: 1}, 400, authcode.CodeInvalidCallerPhone, "caller phone", ""},
		{"unavailable", "/v1/auth-code", `{}`, &emulator.Fault{Endpoint: "generate", Status: 503, RetryAfter: 7}, 503, authcode.CodeLiveHubUnavailable, "unavailable", "7"},
		{"rate limited", "/v1/auth-code", `{}`, &emulator.Fault{Endpoint: "generate", Status: 429}, 503, authcode.CodeLiveHubUnavailable, "unavailable", "2"},
		{"token endpoint down", "/v1/auth-code", `{}`, &emulator.Fault{Endpoint: "token", Status: 503}, 503, authcode.CodeLiveHubUnavailable, "unavailable", "2"},
		{"bad credentials", "/v1/auth-code", `{}`, &emulator.Fault{Endpoint: "token", Status: 401}, 502, authcode.CodeLiveHubRejected, "credentials", ""},
		{"timeout", "/v1/auth-code", `{}`, &emulator.Fault{Endpoint: "generate", LatencyMs: 5000}, 504, authcode.CodeLiveHubTimeout, "in time", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *authcode.Config) { cfg.UpstreamTimeout = 300 * time.Millisecond })
			if tt.fault != nil {
				if err := f.emulator.Emulator.AddFault(*tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			resp := f.post(t, tt.path, tt.body)
			e := checkError(t, resp, tt.status, tt.code)
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q does not contain %q", e.Message, tt.message)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("got Retry-After %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestOneTokenForConcurrentColdStart(t *testing.T) {
	f := newFixture(t, nil)
	const requests = 200
	var wg sync.WaitGroup
	statuses := make([]int, requests)
	for i := range requests {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, f.backend.URL+"/v1/auth-code", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-User", "alice")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, status := range statuses {
		if status != http.StatusOK {
			t.Fatalf("request %d: got status %d, want 200", i, status)
		}
	}
	stats := f.emulator.Emulator.Stats()
	if stats.TokenRequests != 1 {
		t.Errorf("got %d token requests, want 1", stats.TokenRequests)
	}
	if stats.CodesIssued != requests {
		t.Errorf("got %d codes issued, want %d", stats.CodesIssued, requests)
	}
}

func TestOneTokenForSequentialRequests(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 1000 {
		resp := f.post(t, "/v1/auth-code", `{}`)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: got status %d, want 200", i, resp.StatusCode)
		}
	}
	if got := f.emulator.Emulator.Stats().TokenRequests; got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
}

func TestPolicyHooks(t *testing.T) {
	tests := []struct {
		name       string
		change     func(*authcode.Config)
		status     int
		code       authcode.ErrorCode
		retryAfter string
	}{
		{
			name: "origin rejected",
			change: func(cfg *authcode.Config) {
				policy, err := origin.New(nil)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Origin = policy
			},
			status: 403, code: authcode.CodeOriginNotAllowed,
		},
		{
			name: "rate limited",
			change: func(cfg *authcode.Config) {
				cfg.Limiter = limiterFunc(func(context.Context, *http.Request, identity.Identity) error {
					return &ratelimit.Exceeded{Limit: "user", RetryAfter: 1500 * time.Millisecond}
				})
			},
			status: 429, code: authcode.CodeRateLimited, retryAfter: "2",
		},
		{
			name: "limiter down",
			change: func(cfg *authcode.Config) {
				cfg.Limiter = limiterFunc(func(context.Context, *http.Request, identity.Identity) error {
					return errors.New("store unreachable")
				})
			},
			status: 503, code: authcode.CodeLimitUnavailable, retryAfter: "1",
		},
		{
			name: "identity provider down",
			change: func(cfg *authcode.Config) {
				cfg.Authenticator = identity.AuthenticatorFunc(func(*http.Request) (identity.Identity, error) {
					return identity.Identity{}, errors.New("sign-in service timed out")
				})
			},
			status: 503, code: authcode.CodeIdentityUnavailable, retryAfter: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.change)
			req, _ := http.NewRequest(http.MethodPost, f.backend.URL+"/v1/auth-code", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-User", "alice")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			req.Header.Set("Origin", "https://evil.example")
			resp := do(t, req)
			checkError(t, resp, tt.status, tt.code)
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("got Retry-After %q, want %q", got, tt.retryAfter)
			}
			if got := f.emulator.Emulator.Stats().GenerateRequests; got != 0 {
				t.Errorf("rejected request reached Live Hub %d times, want 0", got)
			}
		})
	}
}

func TestAuditLogHidesCode(t *testing.T) {
	f := newFixture(t, nil)
	body := readBody(t, f.post(t, "/v1/auth-code", `{}`))
	var issued struct{ AuthenticationCode string }
	if err := json.Unmarshal([]byte(body), &issued); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if strings.Contains(logs, issued.AuthenticationCode) {
		t.Errorf("log contains the whole code: %s", logs)
	}
	if !strings.Contains(logs, issued.AuthenticationCode[:9]+"…") {
		t.Errorf("log lacks the shortened code %q: %s", issued.AuthenticationCode[:9], logs)
	}
	if strings.Contains(logs, alice.Phone) {
		t.Errorf("log contains the whole phone: %s", logs)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := authcode.New(authcode.Config{
		Connections:       map[string]string{"a": ""},
		DefaultConnection: "b",
		CallerPhone:       "sometimes",
		DefaultRegion:     "XX",
	})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"Codes", "Authenticator", `"b"`, `"a"`, `"sometimes"`, `"XX"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

type limiterFunc func(ctx context.Context, r *http.Request, id identity.Identity) error

func (f limiterFunc) Allow(ctx context.Context, r *http.Request, id identity.Identity) error {
	return f(ctx, r, id)
}

// recordingSource issues fixed codes and records the phone of each request.
type recordingSource struct {
	mu     sync.Mutex
	phones []string
}

func (s *recordingSource) GenerateAuthenticationCode(ctx context.Context, sipConnectionID, callerPhone string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phones = append(s.phones, callerPhone)
	return "LHv1_00000000000000000000000000000000", nil
}

func (s *recordingSource) lastPhone() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.phones) == 0 {
		return "<none>"
	}
	return s.phones[len(s.phones)-1]
}

// syncBuffer is a buffer that the code under test and the test may use at
// the same time.
type syncBuffer = syncbuf.Buffer
