package emulator_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
)

// endpointCall makes one request to a faultable endpoint and returns its
// status.
type endpointCall func(t *testing.T, s *emulatortest.Server, token string) int

func callToken(t *testing.T, s *emulatortest.Server, _ string) int {
	return requestToken(t, s).status
}

func callGenerate(t *testing.T, s *emulatortest.Server, token string) int {
	return generate(t, s, token, s.SIPConnection, `{}`).status
}

func callRedeem(t *testing.T, s *emulatortest.Server, _ string) int {
	return redeem(t, s, "LHv1_00000000000000000000000000000000", "").status
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults []emulator.Fault
		calls  []endpointCall
		want   []int // statuses, one per call
	}{
		{
			name:   "count",
			faults: []emulator.Fault{{Endpoint: "generate", Status: 503, Count: 2}},
			calls:  []endpointCall{callGenerate, callGenerate, callGenerate},
			want:   []int{503, 503, 200},
		},
		{
			name: "queued in order",
			faults: []emulator.Fault{
				{Endpoint: "token", Status: 500, Count: 1},
				{Endpoint: "token", Status: 503, Count: 1},
			},
			calls: []endpointCall{callToken, callToken, callToken},
			want:  []int{500, 503, 200},
		},
		{
			name:   "all endpoints",
			faults: []emulator.Fault{{Endpoint: "all", Status: 502, Count: 3}},
			calls:  []endpointCall{callToken, callGenerate, callRedeem, callToken, callGenerate, callRedeem},
			want:   []int{502, 502, 502, 200, 200, 404},
		},
		{
			name: "other endpoint skipped",
			faults: []emulator.Fault{
				{Endpoint: "generate", Status: 503, Count: 1},
				{Endpoint: "all", Status: 500, Count: 1},
			},
			calls: []endpointCall{callToken, callGenerate, callGenerate},
			want:  []int{500, 503, 200},
		},
		{
			name:   "until cleared",
			faults: []emulator.Fault{{Endpoint: "redeem", Status: 429}},
			calls:  []endpointCall{callRedeem, callRedeem, callRedeem, callRedeem},
			want:   []int{429, 429, 429, 429},
		},
		{
			name: "unlimited fault blocks later ones",
			faults: []emulator.Fault{
				{Endpoint: "generate", Status: 500},
				{Endpoint: "generate", Status: 503, Count: 1},
			},
			calls: []endpointCall{callGenerate, callGenerate},
			want:  []int{500, 500},
		},
		{
			name:   "status zero serves normally",
			faults: []emulator.Fault{{Endpoint: "redeem", Count: 1}},
			calls:  []endpointCall{callRedeem},
			want:   []int{404},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, emulator.Config{})
			token := getToken(t, s)
			for _, f := range tt.faults {
				addFault(t, s, f)
			}
			for i, call := range tt.calls {
				if got := call(t, s, token); got != tt.want[i] {
					t.Errorf("call %d: got status %d, want %d", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestFaultResponse(t *testing.T) {
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)

	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 429, Count: 1, RetryAfter: 7})
	resp := generate(t, s, token, s.SIPConnection, `{}`)
	checkError(t, resp, http.StatusTooManyRequests, "too_many_requests")
	if got := resp.header.Get("Retry-After"); got != "7" {
		t.Errorf("got Retry-After %q, want 7", got)
	}

	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 503, Count: 1})
	resp = generate(t, s, token, s.SIPConnection, `{}`)
	checkError(t, resp, http.StatusServiceUnavailable, "service_unavailable")
	if got := resp.header.Get("Retry-After"); got != "" {
		t.Errorf("got Retry-After %q, want none", got)
	}

	// The token endpoint keeps the RFC 6749 error shape under a fault.
	addFault(t, s, emulator.Fault{Endpoint: "token", Status: 503, Count: 1, RetryAfter: 2})
	resp = requestToken(t, s)
	if resp.status != http.StatusServiceUnavailable {
		t.Errorf("token: got status %d, want 503", resp.status)
	}
	if got := resp.header.Get("Retry-After"); got != "2" {
		t.Errorf("token: got Retry-After %q, want 2", got)
	}
	var body map[string]string
	decodeJSON(t, resp.body, &body)
	if body["error"] != "service_unavailable" || body["error_description"] == "" {
		t.Errorf("token: got body %s, want error service_unavailable with an error_description", resp.body)
	}
}

func TestFaultClear(t *testing.T) {
	s := startServer(t, emulator.Config{})
	addFault(t, s, emulator.Fault{Endpoint: "all", Status: 500})
	addFault(t, s, emulator.Fault{Endpoint: "token", Status: 503})
	if got := requestToken(t, s).status; got != http.StatusInternalServerError {
		t.Fatalf("before clear: got status %d, want 500", got)
	}

	resp := send(t, s, http.MethodDelete, "/emulator/v1/faults", "", "", nil)
	if resp.status != http.StatusNoContent {
		t.Fatalf("clear: got status %d, want 204", resp.status)
	}
	if got := requestToken(t, s).status; got != http.StatusOK {
		t.Errorf("after clear: got status %d, want 200", got)
	}

	if err := s.Emulator.AddFault(emulator.Fault{Endpoint: "token", Status: 500}); err != nil {
		t.Fatalf("AddFault: %v", err)
	}
	s.Emulator.ClearFaults()
	if got := requestToken(t, s).status; got != http.StatusOK {
		t.Errorf("after ClearFaults: got status %d, want 200", got)
	}
}

func TestFaultLatency(t *testing.T) {
	const latency = 150 * time.Millisecond
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)

	latencyMs := int(latency.Milliseconds())
	tests := []struct {
		name       string
		fault      emulator.Fault
		call       endpointCall
		wantStatus int
	}{
		{name: "generate latency only", fault: emulator.Fault{Endpoint: "generate", Count: 1, LatencyMs: latencyMs}, call: callGenerate, wantStatus: 200},
		{name: "token latency only", fault: emulator.Fault{Endpoint: "token", Count: 1, LatencyMs: latencyMs}, call: callToken, wantStatus: 200},
		{name: "latency and status", fault: emulator.Fault{Endpoint: "generate", Status: 504, Count: 1, LatencyMs: latencyMs}, call: callGenerate, wantStatus: 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addFault(t, s, tt.fault)
			start := time.Now()
			status := tt.call(t, s, token)
			elapsed := time.Since(start)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			if elapsed < latency {
				t.Errorf("got response after %v, want at least %v", elapsed, latency)
			}
		})
	}
}

// TestFaultLatencyCancel checks that a delayed request ends as soon as the
// client gives up, leaving no handler running.
func TestFaultLatencyCancel(t *testing.T) {
	s := emulatortest.NewServer(emulator.Config{})
	defer s.Close()
	addFault(t, s, emulator.Fault{Endpoint: "token", Status: 503, LatencyMs: 60_000})

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL(), strings.NewReader(tokenForm(s.ClientID, s.ClientSecret)))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	resp, err := s.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want the request to time out", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("got error after %v, want it soon after 100ms", elapsed)
	}

	// Close waits for every running handler, so it returns promptly only if
	// the delayed handler saw the cancellation.
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("server still serving the cancelled request after 5s")
	}
}

func TestFaultLatencyCancelInProcess(t *testing.T) {
	e := emulator.New(emulator.Config{ClientID: "id", ClientSecret: "secret"})
	if err := e.AddFault(emulator.Fault{Endpoint: "redeem", Status: 500, LatencyMs: 60_000}); err != nil {
		t.Fatalf("AddFault: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/emulator/v1/redeem", strings.NewReader(`{}`))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		e.ServeHTTP(rec, req)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP still running 5s after the request was cancelled")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("got body %q for a cancelled request, want none", rec.Body)
	}
}

func TestFaultControlErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "bad JSON", body: `{"endpoint":`},
		{name: "empty body", body: ``},
		{name: "array", body: `[]`},
		{name: "null", body: `null`},
		{name: "missing endpoint", body: `{"status":503}`},
		{name: "unknown endpoint", body: `{"endpoint":"stats","status":503}`},
		{name: "status too low", body: `{"endpoint":"token","status":200}`},
		{name: "status too high", body: `{"endpoint":"token","status":600}`},
		{name: "negative count", body: `{"endpoint":"token","status":503,"count":-1}`},
		{name: "negative latency", body: `{"endpoint":"token","latencyMs":-5}`},
		{name: "latency over an hour", body: `{"endpoint":"token","latencyMs":3600001}`},
		{name: "negative retry after", body: `{"endpoint":"token","status":503,"retryAfter":-1}`},
		{name: "status as string", body: `{"endpoint":"token","status":"503"}`},
		{name: "unknown field", body: `{"endpoint":"token","status":503,"latency":5}`},
		{name: "trailing data", body: `{"endpoint":"token","status":503}{}`},
		{name: "probability over 1", body: `{"endpoint":"token","status":503,"probability":1.5}`},
		{name: "negative probability", body: `{"endpoint":"token","status":503,"probability":-0.1}`},
		{name: "probability as string", body: `{"endpoint":"token","status":503,"probability":"0.5"}`},
	}
	s := startServer(t, emulator.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, s, http.MethodPost, "/emulator/v1/faults", "application/json", tt.body, nil)
			checkError(t, resp, http.StatusBadRequest, "invalid_request")
		})
	}

	// No rejected fault was queued.
	if got := requestToken(t, s).status; got != http.StatusOK {
		t.Errorf("token after rejected faults: got status %d, want 200", got)
	}
}

func TestAddFaultValidation(t *testing.T) {
	tests := []struct {
		name    string
		fault   emulator.Fault
		wantErr bool
	}{
		{name: "token", fault: emulator.Fault{Endpoint: "token", Status: 503}},
		{name: "generate", fault: emulator.Fault{Endpoint: "generate", Status: 400, Count: 1}},
		{name: "redeem", fault: emulator.Fault{Endpoint: "redeem", Status: 599, RetryAfter: 30}},
		{name: "all latency only", fault: emulator.Fault{Endpoint: "all", LatencyMs: 3_600_000}},
		{name: "empty endpoint", fault: emulator.Fault{Status: 503}, wantErr: true},
		{name: "wrong endpoint case", fault: emulator.Fault{Endpoint: "Token", Status: 503}, wantErr: true},
		{name: "status 399", fault: emulator.Fault{Endpoint: "token", Status: 399}, wantErr: true},
		{name: "status 600", fault: emulator.Fault{Endpoint: "token", Status: 600}, wantErr: true},
		{name: "negative status", fault: emulator.Fault{Endpoint: "token", Status: -1}, wantErr: true},
		{name: "negative count", fault: emulator.Fault{Endpoint: "token", Count: -1}, wantErr: true},
		{name: "negative latency", fault: emulator.Fault{Endpoint: "token", LatencyMs: -1}, wantErr: true},
		{name: "negative retry after", fault: emulator.Fault{Endpoint: "token", RetryAfter: -1}, wantErr: true},
		{name: "probability", fault: emulator.Fault{Endpoint: "generate", Status: 503, Probability: 0.2}},
		{name: "probability 1", fault: emulator.Fault{Endpoint: "generate", Status: 503, Probability: 1}},
		{name: "probability over 1", fault: emulator.Fault{Endpoint: "generate", Status: 503, Probability: 1.01}, wantErr: true},
		{name: "negative probability", fault: emulator.Fault{Endpoint: "generate", Status: 503, Probability: -0.5}, wantErr: true},
		{name: "NaN probability", fault: emulator.Fault{Endpoint: "generate", Status: 503, Probability: math.NaN()}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emulator.New(emulator.Config{ClientID: "id", ClientSecret: "secret"})
			err := e.AddFault(tt.fault)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("got error %v, want error: %t", err, tt.wantErr)
			}
		})
	}

	t.Run("every problem named", func(t *testing.T) {
		e := emulator.New(emulator.Config{ClientID: "id", ClientSecret: "secret"})
		err := e.AddFault(emulator.Fault{Endpoint: "nowhere", Status: 42, Count: -1})
		if err == nil {
			t.Fatal("got no error, want one")
		}
		for _, want := range []string{`"nowhere"`, "status 42", "count -1"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got error %q, want it to contain %q", err, want)
			}
		}
	})
}

func TestFaultProbability(t *testing.T) {
	const requests = 1000
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)
	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 503, Probability: 0.2})

	faulted := 0
	for i := range requests {
		switch status := callGenerate(t, s, token); status {
		case http.StatusServiceUnavailable:
			faulted++
		case http.StatusOK:
		default:
			t.Fatalf("request %d: got status %d, want 200 or 503", i, status)
		}
	}
	// The binomial standard deviation is about 12.6 requests, so the bounds
	// are more than 4.5 deviations from the expected 200.
	if faulted < 140 || faulted > 260 {
		t.Errorf("got %d of %d requests faulted, want about 200", faulted, requests)
	}
	if got := s.Emulator.Stats().GenerateRequests; got != requests {
		t.Errorf("got %d generate requests counted, want %d", got, requests)
	}
}

func TestFaultProbabilityCount(t *testing.T) {
	const count = 5
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)
	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 503, Count: count, Probability: 0.5})

	// Only requests that the fault fires for use it up, so it lasts until
	// the fifth 503, however many requests pass between them.
	faulted, requests := 0, 0
	for faulted < count && requests < 1000 {
		requests++
		if callGenerate(t, s, token) == http.StatusServiceUnavailable {
			faulted++
		}
	}
	if faulted != count {
		t.Fatalf("got %d faulted requests in %d, want %d", faulted, requests, count)
	}
	for i := range 50 {
		if got := callGenerate(t, s, token); got != http.StatusOK {
			t.Fatalf("request %d after the fault was used up: got status %d, want 200", i, got)
		}
	}
}

func TestFaultProbabilitySkipsToNext(t *testing.T) {
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)
	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 500, Probability: 0.5})
	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 503})

	got := map[int]int{}
	for range 200 {
		got[callGenerate(t, s, token)]++
	}
	if len(got) != 2 || got[http.StatusInternalServerError] == 0 || got[http.StatusServiceUnavailable] == 0 {
		t.Errorf("got statuses %v, want only 500 and 503, both at least once", got)
	}
}

func TestFaultProbabilityOne(t *testing.T) {
	s := startServer(t, emulator.Config{})
	token := getToken(t, s)
	addFault(t, s, emulator.Fault{Endpoint: "generate", Status: 502, Count: 3, Probability: 1})

	want := []int{502, 502, 502, 200}
	for i, w := range want {
		if got := callGenerate(t, s, token); got != w {
			t.Errorf("call %d: got status %d, want %d", i, got, w)
		}
	}
}
