package emulator_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

// redeemStep is one redeem request of a scenario, made after advancing the
// clock by after.
type redeemStep struct {
	after      time.Duration
	phone      string
	wantStatus int
	wantError  string // machine code, for an error status
}

func TestRedeem(t *testing.T) {
	const phone = "+14155550100"
	tests := []struct {
		name      string
		codePhone string // the phone the code asserts, if any
		steps     []redeemStep
	}{
		{
			name:  "at 59 seconds",
			steps: []redeemStep{{after: 59 * time.Second, wantStatus: 200}},
		},
		{
			name:  "at 60 seconds",
			steps: []redeemStep{{after: 60 * time.Second, wantStatus: 410, wantError: "code_expired"}},
		},
		{
			name:  "at 61 seconds",
			steps: []redeemStep{{after: 61 * time.Second, wantStatus: 410, wantError: "code_expired"}},
		},
		{
			name: "twice",
			steps: []redeemStep{
				{wantStatus: 200},
				{wantStatus: 409, wantError: "code_used"},
			},
		},
		{
			name:      "used then expired",
			codePhone: phone,
			steps: []redeemStep{
				{phone: phone, wantStatus: 200},
				{after: time.Minute, phone: "+15550000000", wantStatus: 409, wantError: "code_used"},
			},
		},
		{
			name:      "phone missing then right",
			codePhone: phone,
			steps: []redeemStep{
				{wantStatus: 403, wantError: "caller_phone_mismatch"},
				{phone: phone, wantStatus: 200},
			},
		},
		{
			name:      "phone wrong then right",
			codePhone: phone,
			steps: []redeemStep{
				{phone: "+14155550199", wantStatus: 403, wantError: "caller_phone_mismatch"},
				{phone: phone, wantStatus: 200},
				{phone: phone, wantStatus: 409, wantError: "code_used"},
			},
		},
		{
			name:      "phone wrong after expiry",
			codePhone: phone,
			steps:     []redeemStep{{after: 61 * time.Second, phone: "+14155550199", wantStatus: 410, wantError: "code_expired"}},
		},
		{
			name:  "phone named but not asserted",
			steps: []redeemStep{{phone: phone, wantStatus: 200}},
		},
		{
			name: "expired for a day",
			steps: []redeemStep{
				{after: 2 * time.Minute, wantStatus: 410, wantError: "code_expired"},
				{after: 24 * time.Hour, wantStatus: 410, wantError: "code_expired"},
			},
		},
		{
			name: "used for a day",
			steps: []redeemStep{
				{wantStatus: 200},
				{after: 2 * time.Minute, wantStatus: 409, wantError: "code_used"},
				{after: 24 * time.Hour, wantStatus: 409, wantError: "code_used"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			s := startServer(t, emulator.Config{Now: c.Now})
			body := `{}`
			if tt.codePhone != "" {
				body = `{"callerPhone":"` + tt.codePhone + `"}`
			}
			code := getCode(t, s, getToken(t, s), s.SIPConnection, body)

			for i, step := range tt.steps {
				c.Advance(step.after)
				resp := redeem(t, s, code, step.phone)
				if step.wantStatus != http.StatusOK {
					checkError(t, resp, step.wantStatus, step.wantError)
					continue
				}
				if resp.status != http.StatusOK {
					t.Fatalf("step %d: got status %d, want 200, body %s", i, resp.status, resp.body)
				}
				var got map[string]any
				decodeJSON(t, resp.body, &got)
				// callerPhone is always present, and null when the code
				// asserts no phone.
				want := map[string]any{"sipConnectionId": s.SIPConnection, "callerPhone": nil}
				if tt.codePhone != "" {
					want["callerPhone"] = tt.codePhone
				}
				if !maps.Equal(got, want) {
					t.Errorf("step %d: got body %s, want %v", i, resp.body, want)
				}
			}
		})
	}
}

func TestRedeemBadRequest(t *testing.T) {
	s := startServer(t, emulator.Config{})
	code := getCode(t, s, getToken(t, s), s.SIPConnection, `{}`)

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantError  string
	}{
		{name: "unknown code", body: `{"authenticationCode":"LHv1_00000000000000000000000000000000"}`, wantStatus: 404, wantError: "code_not_found"},
		{name: "bad JSON", body: `{"authenticationCode":`, wantStatus: 400, wantError: "invalid_request"},
		{name: "empty body", body: ``, wantStatus: 400, wantError: "invalid_request"},
		{name: "array", body: `["` + code + `"]`, wantStatus: 400, wantError: "invalid_request"},
		{name: "missing code", body: `{"callerPhone":"+14155550100"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "empty code", body: `{"authenticationCode":""}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "code not a string", body: `{"authenticationCode":12}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone not a string", body: `{"authenticationCode":"` + code + `","callerPhone":14155550100}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "trailing data", body: `{"authenticationCode":"` + code + `"} x`, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, "/emulator/v1/redeem", "application/json", tt.body, nil)
			checkError(t, resp, tt.wantStatus, tt.wantError)
		})
	}

	// None of the bad requests used the code up.
	if got := redeem(t, s, code, "").status; got != http.StatusOK {
		t.Errorf("redeem after bad requests: got status %d, want 200", got)
	}
}

// TestRedeemCodeStateFirst checks that a used, expired or unknown code gets
// 409, 410 or 404 whatever callerPhone is, and that only a usable code gets
// 400 or 403 for its callerPhone, without being used up.
func TestRedeemCodeStateFirst(t *testing.T) {
	const (
		phone   = "+14155550100"
		unknown = "LHv1_00000000000000000000000000000000"
	)
	tests := []struct {
		name       string
		member     string // the body's callerPhone member, or "" for none
		wantStatus int    // for a usable code that asserts phone
		wantError  string
	}{
		{name: "phone a number", member: `"callerPhone":5`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone null", member: `"callerPhone":null`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone an array", member: `"callerPhone":["` + phone + `"]`, wantStatus: 400, wantError: "invalid_request"},
		{name: "phone malformed", member: `"callerPhone":"call me"`, wantStatus: 403, wantError: "caller_phone_mismatch"},
		{name: "phone of another", member: `"callerPhone":"+14155550199"`, wantStatus: 403, wantError: "caller_phone_mismatch"},
		{name: "phone missing", wantStatus: 403, wantError: "caller_phone_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			s := startServer(t, emulator.Config{Now: c.Now})
			token := getToken(t, s)
			withPhone := `{"callerPhone":"` + phone + `"}`
			body := func(code string) string {
				if tt.member == "" {
					return `{"authenticationCode":"` + code + `"}`
				}
				return `{"authenticationCode":"` + code + `",` + tt.member + `}`
			}
			post := func(code string) response {
				return send(t, s, http.MethodPost, "/emulator/v1/redeem", "application/json", body(code), nil)
			}

			expired := getCode(t, s, token, s.SIPConnection, withPhone)
			c.Advance(emulator.DefaultCodeTTL)
			used := getCode(t, s, token, s.SIPConnection, withPhone)
			if got := redeem(t, s, used, phone).status; got != http.StatusOK {
				t.Fatalf("first redeem: got status %d, want 200", got)
			}
			usable := getCode(t, s, token, s.SIPConnection, withPhone)

			checkError(t, post(used), http.StatusConflict, "code_used")
			checkError(t, post(expired), http.StatusGone, "code_expired")
			checkError(t, post(unknown), http.StatusNotFound, "code_not_found")
			checkError(t, post(usable), tt.wantStatus, tt.wantError)
			if got := redeem(t, s, usable, phone).status; got != http.StatusOK {
				t.Errorf("redeem after a %d: got status %d, want 200", tt.wantStatus, got)
			}
		})
	}
}

// TestRedeemUsedCodeUnreadableBody checks that a body from which no code can
// be read gets 400 or 413 even when it contains a used code.
func TestRedeemUsedCodeUnreadableBody(t *testing.T) {
	s := startServer(t, emulator.Config{})
	code := getCode(t, s, getToken(t, s), s.SIPConnection, `{}`)
	if got := redeem(t, s, code, "").status; got != http.StatusOK {
		t.Fatalf("first redeem: got status %d, want 200", got)
	}

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantError  string
	}{
		{name: "not JSON", body: `authenticationCode=` + code, wantStatus: 400, wantError: "invalid_request"},
		{name: "cut short", body: `{"authenticationCode":"` + code + `"`, wantStatus: 400, wantError: "invalid_request"},
		{name: "array", body: `["` + code + `"]`, wantStatus: 400, wantError: "invalid_request"},
		{name: "trailing data", body: `{"authenticationCode":"` + code + `"} x`, wantStatus: 400, wantError: "invalid_request"},
		{name: "code in another member", body: `{"code":"` + code + `"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "over 64 KiB", body: `{"authenticationCode":"` + code + `","padding":"` + strings.Repeat("x", 64<<10) + `"}`,
			wantStatus: 413, wantError: "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, "/emulator/v1/redeem", "application/json", tt.body, nil)
			checkError(t, resp, tt.wantStatus, tt.wantError)
		})
	}
}

// TestRedeemDropsOldestExpiredCodes checks the bound on remembered codes:
// past MaxRememberedCodes, the oldest expired codes are dropped first, and
// codes that are still valid are kept even above the bound.
func TestRedeemDropsOldestExpiredCodes(t *testing.T) {
	c := newClock()
	s := startServer(t, emulator.Config{Now: c.Now, MaxRememberedCodes: 2})
	token := getToken(t, s)
	issue := func() string { return getCode(t, s, token, s.SIPConnection, `{}`) }

	first := issue()
	if got := redeem(t, s, first, "").status; got != http.StatusOK {
		t.Fatalf("redeem first: got status %d, want 200", got)
	}
	c.Advance(emulator.DefaultCodeTTL)
	second := issue()
	// The first code has expired, so the third code pushes it out.
	third, fourth := issue(), issue()
	checkError(t, redeem(t, s, first, ""), http.StatusNotFound, "code_not_found")

	// The second, third and fourth codes are valid, so all three are kept.
	for i, code := range []string{second, third, fourth} {
		if got := redeem(t, s, code, "").status; got != http.StatusOK {
			t.Errorf("redeem code %d: got status %d, want 200", i+2, got)
		}
	}

	// Once they have expired, a fifth code pushes out the two oldest.
	c.Advance(emulator.DefaultCodeTTL)
	issue()
	checkError(t, redeem(t, s, second, ""), http.StatusNotFound, "code_not_found")
	checkError(t, redeem(t, s, third, ""), http.StatusNotFound, "code_not_found")
	checkError(t, redeem(t, s, fourth, ""), http.StatusConflict, "code_used")
}

func TestRedeemCORS(t *testing.T) {
	s := startServer(t, emulator.Config{})

	preflight := send(t, s, http.MethodOptions, "/emulator/v1/redeem", "", "", http.Header{
		"Origin":                         {"http://127.0.0.1:8080"},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"content-type"},
	})
	if preflight.status != http.StatusNoContent {
		t.Errorf("preflight: got status %d, want 204", preflight.status)
	}
	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST",
		"Access-Control-Allow-Headers": "Content-Type",
	} {
		if got := preflight.header.Get(name); got != want {
			t.Errorf("preflight: got %s %q, want %q", name, got, want)
		}
	}

	resp := redeem(t, s, "LHv1_00000000000000000000000000000000", "")
	if got := resp.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("redeem: got Access-Control-Allow-Origin %q, want *", got)
	}

	addFault(t, s, emulator.Fault{Endpoint: "redeem", Status: 503, Count: 1})
	resp = redeem(t, s, "LHv1_00000000000000000000000000000000", "")
	if got := resp.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("faulted redeem: got Access-Control-Allow-Origin %q, want *", got)
	}
}

// TestRedeemConcurrent redeems one code from many goroutines at once: exactly
// one redeem may succeed.
func TestRedeemConcurrent(t *testing.T) {
	const (
		redeems = 1000
		workers = 50
	)
	s := startServer(t, emulator.Config{})
	code := getCode(t, s, getToken(t, s), s.SIPConnection, `{}`)
	s.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = workers

	jobs := make(chan struct{})
	statuses := make(chan int, redeems)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				resp, err := do(s, http.MethodPost, "/emulator/v1/redeem", "application/json", redeemBody(code, ""), nil)
				if err != nil {
					t.Error(err)
				}
				statuses <- resp.status
			}
		})
	}
	for range redeems {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	close(statuses)

	counts := make(map[int]int)
	for status := range statuses {
		counts[status]++
	}
	if counts[http.StatusOK] != 1 {
		t.Errorf("got %d redeems with 200, want 1", counts[http.StatusOK])
	}
	if counts[http.StatusConflict] != redeems-1 {
		t.Errorf("got %d redeems with 409, want %d (all statuses: %v)", counts[http.StatusConflict], redeems-1, counts)
	}
	if got := s.Emulator.Stats().Redeemed; got != 1 {
		t.Errorf("got Redeemed %d, want 1", got)
	}
}

// TestGenerateRedeemConcurrent issues and redeems codes from several
// goroutines, so the race detector checks the code store under load.
func TestGenerateRedeemConcurrent(t *testing.T) {
	const (
		workers   = 8
		perWorker = 25
	)
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if err := generateAndRedeem(s, token, "+442071838750"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	want := emulator.Stats{TokenRequests: 1, GenerateRequests: workers * perWorker, CodesIssued: workers * perWorker, Redeemed: workers * perWorker}
	if got := s.Emulator.Stats(); got != want {
		t.Errorf("got stats %+v, want %+v", got, want)
	}
}

// generateAndRedeem gets a code asserting phone and redeems it.
func generateAndRedeem(s *emulatortest.Server, token, phone string) error {
	resp, err := do(s, http.MethodPost, generatePath(s, s.SIPConnection), "application/json",
		`{"callerPhone":"`+phone+`"}`, bearer(token))
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return fmt.Errorf("generate: got status %d, want 200, body %s", resp.status, resp.body)
	}
	var body struct {
		AuthenticationCode string `json:"authenticationCode"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return fmt.Errorf("decode generate response %s: %w", resp.body, err)
	}

	resp, err = do(s, http.MethodPost, "/emulator/v1/redeem", "application/json", redeemBody(body.AuthenticationCode, phone), nil)
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return fmt.Errorf("redeem %s: got status %d, want 200, body %s", body.AuthenticationCode, resp.status, resp.body)
	}
	return nil
}
