package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
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
			name: "forgotten after a second lifetime",
			steps: []redeemStep{
				{after: 2*time.Minute - time.Second, wantStatus: 410, wantError: "code_expired"},
				{after: time.Second, wantStatus: 404, wantError: "code_not_found"},
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
				var got map[string]string
				decodeJSON(t, resp.body, &got)
				want := map[string]string{"sipConnectionId": s.SIPConnection}
				if tt.codePhone != "" {
					want["callerPhone"] = tt.codePhone
				}
				if len(got) != len(want) || got["sipConnectionId"] != want["sipConnectionId"] || got["callerPhone"] != want["callerPhone"] {
					t.Errorf("step %d: got body %v, want %v", i, got, want)
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
