package authcode_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/livehub"
)

func addFault(t *testing.T, f *fixture, fault emulator.Fault) {
	t.Helper()
	if err := f.emulator.Emulator.AddFault(fault); err != nil {
		t.Fatal(err)
	}
}

// status sends one signed-in request and returns its status and
// Retry-After header.
func (f *fixture) status(t *testing.T) (int, string) {
	t.Helper()
	resp := f.post(t, "/v1/auth-code", `{}`)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func TestRetriesTransientFailures(t *testing.T) {
	f := newFixture(t, nil)
	addFault(t, f, emulator.Fault{Endpoint: "generate", Status: 503, Count: 2})

	if status, _ := f.status(t); status != http.StatusOK {
		t.Fatalf("got status %d, want 200", status)
	}
	if got := f.emulator.Emulator.Stats().GenerateRequests; got != 3 {
		t.Errorf("Live Hub saw %d generate requests, want 3", got)
	}
}

func TestRevokedTokensReplaced(t *testing.T) {
	f := newFixture(t, nil)
	if status, _ := f.status(t); status != http.StatusOK {
		t.Fatalf("first request: got status %d, want 200", status)
	}
	before := f.emulator.Emulator.Stats().TokenRequests
	f.emulator.Emulator.RevokeTokens()

	if status, _ := f.status(t); status != http.StatusOK {
		t.Fatalf("after revocation: got status %d, want 200", status)
	}
	if got := f.emulator.Emulator.Stats().TokenRequests - before; got != 1 {
		t.Errorf("got %d extra token requests, want 1", got)
	}
}

func TestTokenEndpointDownThenRecovers(t *testing.T) {
	f := newFixture(t, nil)
	addFault(t, f, emulator.Fault{Endpoint: "token", Status: 503})

	status, retryAfter := f.status(t)
	if status != http.StatusServiceUnavailable || retryAfter == "" {
		t.Fatalf("token endpoint down: got %d with Retry-After %q, want 503 with Retry-After", status, retryAfter)
	}

	f.emulator.Emulator.ClearFaults()
	cleared := time.Now()
	for {
		if status, _ = f.status(t); status == http.StatusOK {
			break
		}
		if time.Since(cleared) > time.Second {
			t.Fatalf("still %d one second after the token endpoint recovered, want 200", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLiveHubTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const deadline = 500 * time.Millisecond
	f := newFixture(t, func(cfg *authcode.Config) { cfg.UpstreamTimeout = deadline })
	if status, _ := f.status(t); status != http.StatusOK {
		t.Fatalf("warm-up: got status %d, want 200", status)
	}
	addFault(t, f, emulator.Fault{Endpoint: "generate", LatencyMs: 10_000})

	start := time.Now()
	status, _ := f.status(t)
	elapsed := time.Since(start)
	if status != http.StatusGatewayTimeout {
		t.Errorf("got status %d, want 504", status)
	}
	if elapsed > deadline+500*time.Millisecond {
		t.Errorf("answered after %s, want within %s", elapsed, deadline+500*time.Millisecond)
	}
	f.emulator.Emulator.ClearFaults()
	f.backend.Close()
	f.emulator.Close()
	f.client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
}

func TestVisitorDisconnectCancelsUpstream(t *testing.T) {
	f := newFixture(t, nil)
	if status, _ := f.status(t); status != http.StatusOK {
		t.Fatalf("warm-up: got status %d, want 200", status)
	}
	addFault(t, f, emulator.Fault{Endpoint: "generate", LatencyMs: 10_000})

	client := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, f.backend.URL+"/v1/auth-code", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-User", "alice")
	if _, err := client.Do(req); err == nil {
		t.Fatal("request finished, want the client to give up")
	}

	// The backend notices the disconnect and cancels its Live Hub request, so
	// the emulator's handler returns long before its 10 s latency.
	done := make(chan struct{})
	go func() {
		f.emulator.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the Live Hub request was still open 3 s after the visitor left")
	}
}

// failEveryNth puts a server in front of f's emulator that fails every
// nth generate call with 503, and returns the count of generate calls.
func failEveryNth(t *testing.T, f *fixture, n int64) *atomic.Int64 {
	t.Helper()
	var calls atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/generateAuthenticationCode") && calls.Add(1)%n == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"service_unavailable","message":"injected"}`)
			return
		}
		f.emulator.Emulator.ServeHTTP(w, r)
	}))
	t.Cleanup(failing.Close)
	f.client.BaseURL = failing.URL
	return &calls
}

// sendConcurrently sends requests from workers goroutines and returns how
// many got 200.
func sendConcurrently(t *testing.T, f *fixture, requests, workers int) int64 {
	t.Helper()
	var succeeded atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range workers {
		wg.Go(func() {
			for range next {
				if status, _ := f.status(t); status == http.StatusOK {
					succeeded.Add(1)
				}
			}
		})
	}
	for range requests {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return succeeded.Load()
}

func TestFailingFifthMostlySucceeds(t *testing.T) {
	// Every fifth generate call fails, 20 % of them. Sequential requests
	// make the outcome exact: each failure is retried and succeeds.
	f := newFixture(t, nil)
	calls := failEveryNth(t, f, 5)

	const requests = 1000
	succeeded := sendConcurrently(t, f, requests, 1)
	if succeeded < requests*99/100 {
		t.Errorf("%d of %d requests succeeded, want at least 99 %%", succeeded, requests)
	}
	if perRequest := float64(calls.Load()) / requests; perRequest > 1.3 {
		t.Errorf("Live Hub saw %.2f generate calls per request, want at most 1.3", perRequest)
	}
}

func TestRandomFailuresUnderLoad(t *testing.T) {
	// 20 % of generate calls fail at random while 20 visitors ask at once.
	// With 3 attempts a request fails only when all three do, 0.8 % of
	// requests on average, so this checks a bound with room for chance:
	// 98 % and the retry budget's 1.3 calls per request.
	f := newFixture(t, nil)
	addFault(t, f, emulator.Fault{Endpoint: "generate", Status: 503, Probability: 0.2})

	const requests = 1000
	succeeded := sendConcurrently(t, f, requests, 20)
	if succeeded < requests*98/100 {
		t.Errorf("%d of %d requests succeeded, want at least 98 %%", succeeded, requests)
	}
	perRequest := float64(f.emulator.Emulator.Stats().GenerateRequests) / requests
	if perRequest > 1.3 {
		t.Errorf("Live Hub saw %.2f generate calls per request, want at most 1.3", perRequest)
	}
	t.Logf("%d of %d succeeded with %.3f generate calls per request", succeeded, requests, perRequest)
}

func TestRateLimitedLiveHubHeldBack(t *testing.T) {
	f := newFixture(t, nil)
	if status, _ := f.status(t); status != http.StatusOK {
		t.Fatalf("warm-up: got status %d, want 200", status)
	}
	before := f.emulator.Emulator.Stats().GenerateRequests
	addFault(t, f, emulator.Fault{Endpoint: "generate", Status: 429, RetryAfter: 1})
	start := time.Now()

	// Ten visitors keep asking for 2 s while Live Hub returns 429.
	var wg sync.WaitGroup
	var unavailable atomic.Int64
	for range 10 {
		wg.Go(func() {
			for time.Since(start) < 2*time.Second {
				status, retryAfter := f.status(t)
				if status == http.StatusServiceUnavailable && retryAfter != "" {
					unavailable.Add(1)
				}
			}
		})
	}
	wg.Wait()
	during := f.emulator.Emulator.Stats().GenerateRequests - before
	f.emulator.Emulator.ClearFaults()

	// Requests already in flight when the first 429 arrives reach Live Hub
	// too; after that, one probe a second at most.
	const inFlight = 10
	if during > inFlight+2 {
		t.Errorf("Live Hub saw %d generate requests in 2 s of 429, want at most %d", during, inFlight+2)
	}
	if unavailable.Load() == 0 {
		t.Error("no visitor got 503 with Retry-After")
	}
	time.Sleep(1100 * time.Millisecond) // the last Retry-After must pass before the gate opens
	if status, _ := f.status(t); status != http.StatusOK {
		t.Errorf("after Live Hub recovered: got status %d, want 200", status)
	}
}

func TestLongRetryAfterCapped(t *testing.T) {
	f := newFixture(t, nil)
	addFault(t, f, emulator.Fault{Endpoint: "generate", Status: 503, RetryAfter: 86400})

	for i := range 2 {
		status, retryAfter := f.status(t)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("request %d: got status %d, want 503", i+1, status)
		}
		seconds, err := strconv.Atoi(retryAfter)
		if err != nil || seconds < 1 || seconds > int(livehub.MaxRetryAfter.Seconds()) {
			t.Errorf("request %d: got Retry-After %q, want 1 to %d seconds", i+1, retryAfter, int(livehub.MaxRetryAfter.Seconds()))
		}
	}
}
