package livehub_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/livehub"
)

// verifyNoLeaks fails t if a goroutine started during the test is still
// running after the test's later cleanups have run. Call it before anything
// that registers a cleanup.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// startEmulator starts an emulator configured by cfg and returns it with a
// client aimed at it that uses the same clock. Both are shut down when the
// test ends, after any background token request has finished.
func startEmulator(t *testing.T, cfg emulator.Config) (*emulatortest.Server, *livehub.Client) {
	t.Helper()
	em := emulatortest.NewServer(cfg)
	c := &livehub.Client{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret, Now: cfg.Now}
	t.Cleanup(func() {
		livehub.WaitForTokenFetch(c)
		c.CloseIdleConnections()
		em.Close()
	})
	return em, c
}

func addFault(t *testing.T, em *emulatortest.Server, f emulator.Fault) {
	t.Helper()
	if err := em.Emulator.AddFault(f); err != nil {
		t.Fatalf("AddFault: %v", err)
	}
}

// halfRandom is a Client.Random that makes every backoff wait half its
// ceiling.
func halfRandom() float64 { return 0.5 }

func TestRetryTransientFailures(t *testing.T) {
	tests := []struct {
		name  string
		fault emulator.Fault
	}{
		{name: "503 twice", fault: emulator.Fault{Endpoint: "generate", Status: 503, Count: 2}},
		{name: "500 twice", fault: emulator.Fault{Endpoint: "generate", Status: 500, Count: 2}},
		{name: "429 twice", fault: emulator.Fault{Endpoint: "generate", Status: 429, Count: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			em, c := startEmulator(t, emulator.Config{})
			c.Random = halfRandom
			addFault(t, em, tt.fault)

			code, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, "")
			if err != nil || code == "" {
				t.Fatalf("got code %q and error %v, want a code", code, err)
			}
			if got := em.Emulator.Stats().GenerateRequests; got != 3 {
				t.Errorf("got %d generate requests, want 3", got)
			}
		})
	}
}

func TestRetryGivesUp(t *testing.T) {
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	c.Random = halfRandom
	addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 502})

	_, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, "")
	if !livehub.IsUnavailable(err) {
		t.Errorf("got error %v, want IsUnavailable", err)
	}
	if got := em.Emulator.Stats().GenerateRequests; got != 3 {
		t.Errorf("got %d generate requests, want 3, the default MaxAttempts", got)
	}
}

func TestNotRetried(t *testing.T) {
	tests := []struct {
		name        string
		connection  string // empty means the emulator's
		callerPhone string
		fault       *emulator.Fault
		check       func(error) bool
	}{
		{name: "400", callerPhone: "12345", check: livehub.IsInvalidRequest},
		{name: "404", connection: "no-such-connection", check: livehub.IsSIPConnectionNotFound},
		{name: "403", fault: &emulator.Fault{Endpoint: "generate", Status: 403}, check: isStatus(403)},
		{name: "409", fault: &emulator.Fault{Endpoint: "generate", Status: 409}, check: isStatus(409)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			em, c := startEmulator(t, emulator.Config{})
			if tt.fault != nil {
				addFault(t, em, *tt.fault)
			}
			connection := tt.connection
			if connection == "" {
				connection = em.SIPConnection
			}

			_, err := c.GenerateAuthenticationCode(t.Context(), connection, tt.callerPhone)
			if !tt.check(err) {
				t.Errorf("got error %v, want status %s", err, tt.name)
			}
			if got := em.Emulator.Stats().GenerateRequests; got != 1 {
				t.Errorf("got %d generate requests, want 1", got)
			}
		})
	}
}

func isStatus(status int) func(error) bool {
	return func(err error) bool {
		var e *livehub.Error
		return errors.As(err, &e) && e.StatusCode == status
	}
}

func TestRevokedTokensReplacedOnce(t *testing.T) {
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Fatalf("warm-up call: %v", err)
	}
	before := em.Emulator.Stats()
	em.Emulator.RevokeTokens()

	if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Fatalf("call after revocation: %v", err)
	}
	after := em.Emulator.Stats()
	if got := after.TokenRequests - before.TokenRequests; got != 1 {
		t.Errorf("got %d more token requests, want 1", got)
	}
	if got := after.GenerateRequests - before.GenerateRequests; got != 2 {
		t.Errorf("got %d more generate requests, want 2: the rejected one and the retry", got)
	}
}

func TestTokenEndpointRecovers(t *testing.T) {
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	addFault(t, em, emulator.Fault{Endpoint: "token", Status: 503})

	for i := range 3 {
		start := time.Now()
		if err := c.Ready(t.Context()); !livehub.IsUnavailable(err) {
			t.Errorf("Ready %d: got error %v, want IsUnavailable", i+1, err)
		}
		_, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, "")
		if !livehub.IsUnavailable(err) {
			t.Errorf("call %d: got error %v, want IsUnavailable", i+1, err)
		}
		if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
			t.Errorf("Ready and call %d took %v, want them to fail fast", i+1, elapsed)
		}
	}
	if got := em.Emulator.Stats().GenerateRequests; got != 0 {
		t.Errorf("got %d generate requests without a token, want 0", got)
	}

	// Keep the client failing until its backoff reaches the 800 ms cap,
	// after failures at about 0, 100, 300 and 700 ms.
	for deadline := time.Now().Add(800 * time.Millisecond); time.Now().Before(deadline); {
		_ = c.Ready(t.Context())
		time.Sleep(10 * time.Millisecond)
	}
	em.Emulator.ClearFaults()
	cleared := time.Now()
	var err error
	for time.Since(cleared) < 3*time.Second {
		if err = c.Ready(t.Context()); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	recovered := time.Since(cleared)
	if err != nil {
		t.Fatalf("Ready still failing 3 s after the token endpoint recovered: %v", err)
	}
	if recovered > time.Second {
		t.Errorf("Ready recovered %v after the token endpoint did, want within 1 s", recovered)
	}
	if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Errorf("call after recovery: %v", err)
	}
}

func TestGenerateDeadline(t *testing.T) {
	const deadline = time.Second
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	if err := c.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	addFault(t, em, emulator.Fault{Endpoint: "generate", LatencyMs: 10_000})

	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start := time.Now()
	_, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, "")
	elapsed := time.Since(start)

	if !livehub.IsTimeout(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want IsTimeout and context.DeadlineExceeded", err)
	}
	if elapsed > deadline+500*time.Millisecond {
		t.Errorf("call took %v, want at most %v", elapsed, deadline+500*time.Millisecond)
	}
	if got := em.Emulator.Stats().GenerateRequests; got != 1 {
		t.Errorf("got %d generate requests, want 1 because no retry fits after the deadline", got)
	}
}

func TestRetryAfterBeyondDeadline(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter int
		timeout    time.Duration // 0 for no deadline
	}{
		{name: "after the deadline", retryAfter: 1, timeout: 500 * time.Millisecond},
		{name: "over MaxRetryWait", retryAfter: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			em, c := startEmulator(t, emulator.Config{})
			addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 429, RetryAfter: tt.retryAfter})

			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, "")
			elapsed := time.Since(start)

			var e *livehub.Error
			if !livehub.IsRateLimited(err) || !errors.As(err, &e) {
				t.Fatalf("got error %v, want IsRateLimited", err)
			}
			if want := time.Duration(tt.retryAfter) * time.Second; e.RetryAfter != want {
				t.Errorf("got RetryAfter %v, want %v", e.RetryAfter, want)
			}
			if elapsed > 200*time.Millisecond {
				t.Errorf("call took %v, want it to return at once", elapsed)
			}
			if got := em.Emulator.Stats().GenerateRequests; got != 1 {
				t.Errorf("got %d generate requests, want 1", got)
			}
		})
	}
}

func TestCancelStopsRetryWait(t *testing.T) {
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 503, RetryAfter: 2})

	ctx, cancel := context.WithCancel(t.Context())
	retrying := make(chan struct{})
	c.Observer = &livehub.Observer{Retry: func(context.Context, livehub.RetryEvent) { close(retrying) }}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, "")
		done <- err
	}()

	select {
	case <-retrying:
	case <-time.After(5 * time.Second):
		t.Fatal("no retry within 5 s")
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("call still waiting 5 s after its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("call took %v, want it to end soon after the cancellation, not after the 2 s Retry-After", elapsed)
	}
	if got := em.Emulator.Stats().GenerateRequests; got != 1 {
		t.Errorf("got %d generate requests, want 1", got)
	}
}

func TestRandomFailures(t *testing.T) {
	const (
		requests = 1000
		workers  = 20
	)
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	// With 3 attempts a call fails with probability 0.2³ = 0.8%, so 8 of
	// 1000 fail on average and more than 10 fail in about one run of six.
	// A fourth attempt brings the expected failures down to 1.6, so the
	// test checks the retry budget rather than that spread.
	c.MaxAttempts = 4
	if err := c.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 503, Probability: 0.2})

	jobs := make(chan struct{})
	var succeeded atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				if _, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, ""); err == nil {
					succeeded.Add(1)
				}
				cancel()
			}
		})
	}
	for range requests {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()

	if got := succeeded.Load(); got < requests*99/100 {
		t.Errorf("got %d of %d calls succeeded, want at least 99%%", got, requests)
	}
	perCall := float64(em.Emulator.Stats().GenerateRequests) / requests
	if perCall > 1.3 {
		t.Errorf("got %.3f generate requests per call, want at most 1.3", perCall)
	}
	t.Logf("%d of %d calls succeeded with %.3f generate requests per call", succeeded.Load(), requests, perCall)
}

func TestRetryBudgetOutage(t *testing.T) {
	tests := []struct {
		name     string
		calls    int
		budget   livehub.RetryBudget
		maxCalls int // generate requests
		minCalls int
	}{
		// Each call earns 0.3 of a retry, and the per-second reserve adds
		// 10 at the start. The fake clock does not move, so the reserve
		// never refills.
		{name: "default", calls: 400, maxCalls: 400 + 120 + 10, minCalls: 400},
		{name: "ratio 0.5", calls: 400, budget: livehub.RetryBudget{Ratio: 0.5}, maxCalls: 400 + 200 + 10, minCalls: 400},
		{name: "nothing earned", calls: 400, budget: livehub.RetryBudget{Ratio: -1}, maxCalls: 400 + 10, minCalls: 400},
		{name: "disabled", calls: 60, budget: livehub.RetryBudget{Disabled: true}, maxCalls: 3 * 60, minCalls: 3 * 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			em, c := startEmulator(t, emulator.Config{})
			c.Now = newFakeClock().Now
			c.RetryBudget = tt.budget
			c.Random = func() float64 { return 0.1 }
			addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 503})

			jobs := make(chan struct{})
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					for range jobs {
						if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); !livehub.IsUnavailable(err) {
							t.Errorf("got error %v, want IsUnavailable", err)
						}
					}
				})
			}
			for range tt.calls {
				jobs <- struct{}{}
			}
			close(jobs)
			wg.Wait()

			got := int(em.Emulator.Stats().GenerateRequests)
			if got > tt.maxCalls || got < tt.minCalls {
				t.Errorf("got %d generate requests for %d calls, want %d to %d", got, tt.calls, tt.minCalls, tt.maxCalls)
			}
		})
	}
}

func TestBackgroundRefresh(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	em, c := startEmulator(t, emulator.Config{TokenTTL: 900 * time.Second, Now: clock.Now})
	fetched := make(chan livehub.TokenFetchEvent, 4)
	c.Observer = &livehub.Observer{TokenFetch: func(_ context.Context, e livehub.TokenFetchEvent) { fetched <- e }}

	if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if e := <-fetched; e.Background || e.Err != nil {
		t.Errorf("first token request: got %+v, want a successful foreground request", e)
	}

	// Past three quarters of the lifetime, a slow token endpoint does not
	// hold up the call, which still has a valid token.
	clock.Advance(700 * time.Second)
	addFault(t, em, emulator.Fault{Endpoint: "token", Count: 1, LatencyMs: 600})
	start := time.Now()
	if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Fatalf("call at 700 s: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond {
		t.Errorf("call at 700 s took %v, want it not to wait for the 600 ms token request", elapsed)
	}

	select {
	case e := <-fetched:
		if !e.Background || e.Err != nil {
			t.Errorf("second token request: got %+v, want a successful background request", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no background token request finished within 5 s")
	}

	// The emulator rejects the first token from 900 s on, so a call at 901 s
	// succeeds without a 401 only with the new token.
	clock.Advance(201 * time.Second)
	if _, err := c.GenerateAuthenticationCode(t.Context(), em.SIPConnection, ""); err != nil {
		t.Fatalf("call at 901 s: %v", err)
	}
	stats := em.Emulator.Stats()
	if stats.TokenRequests != 2 {
		t.Errorf("got %d token requests, want 2", stats.TokenRequests)
	}
	if stats.GenerateRequests != stats.CodesIssued {
		t.Errorf("got %d generate requests for %d codes, want no rejected token", stats.GenerateRequests, stats.CodesIssued)
	}
}

// generateEvent is one generate request seen by the Observer.
type generateEvent struct {
	start, end time.Time
	status     int
}

// TestThrottleUnderLoad runs 10 workers against a Live Hub that returns 429
// with Retry-After: 1 for 2 s. Requests already in flight when the first 429
// arrives get one too. After that, the client sends one probe a second.
func TestThrottleUnderLoad(t *testing.T) {
	const (
		workers    = 10
		steady     = 100 * time.Millisecond
		faultFor   = 2 * time.Second
		afterFault = 1200 * time.Millisecond
	)
	verifyNoLeaks(t)
	em, c := startEmulator(t, emulator.Config{})
	var mu sync.Mutex
	var events []generateEvent
	c.Observer = &livehub.Observer{Upstream: func(_ context.Context, e livehub.UpstreamEvent) {
		if e.Op != livehub.OpGenerate {
			return
		}
		end := time.Now()
		mu.Lock()
		events = append(events, generateEvent{start: end.Add(-e.Duration), end: end, status: e.StatusCode})
		mu.Unlock()
	}}

	stop := make(chan struct{})
	var throttled, badErrors atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				_, err := c.GenerateAuthenticationCode(ctx, em.SIPConnection, "")
				cancel()
				var e *livehub.Error
				switch {
				case err == nil:
				case errors.Is(err, livehub.ErrThrottled):
					throttled.Add(1)
					if !livehub.IsRateLimited(err) || !errors.As(err, &e) || e.RetryAfter <= 0 || e.RetryAfter > time.Second {
						badErrors.Add(1)
					}
				case !livehub.IsRateLimited(err):
					badErrors.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}

	time.Sleep(steady)
	addFault(t, em, emulator.Fault{Endpoint: "generate", Status: 429, RetryAfter: 1})
	time.Sleep(faultFor)
	em.Emulator.ClearFaults()
	cleared := time.Now()
	time.Sleep(afterFault)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var first429 time.Time
	for _, e := range events {
		if e.status == http.StatusTooManyRequests && (first429.IsZero() || e.end.Before(first429)) {
			first429 = e.end
		}
	}
	if first429.IsZero() {
		t.Fatal("no generate request got a 429")
	}
	// The first probe that succeeds after the fault was cleared reopens
	// the gate.
	var recovered time.Time
	for _, e := range events {
		if e.status == http.StatusOK && e.start.After(cleared) && (recovered.IsZero() || e.end.Before(recovered)) {
			recovered = e.end
		}
	}
	var inFlight, sentWhileThrottled, answered429, failedAfterRecovery int
	for _, e := range events {
		switch {
		case e.status == http.StatusTooManyRequests && !e.start.After(first429):
			inFlight++
		case e.start.After(first429) && e.start.Before(cleared):
			sentWhileThrottled++
		}
		if e.status == http.StatusTooManyRequests {
			answered429++
		}
		if !recovered.IsZero() && e.start.After(recovered) && e.status != http.StatusOK {
			failedAfterRecovery++
		}
	}
	t.Logf("%d requests in flight at the first 429, %d sent during the pause, %d answered 429, %d calls held back",
		inFlight, sentWhileThrottled, answered429, throttled.Load())

	// One probe a second for 2 s, and one more for a probe that the end of
	// the fault and the end of a pause may let through together.
	if sentWhileThrottled > 3 {
		t.Errorf("got %d generate requests sent after the first 429 while Live Hub throttled, want at most 3", sentWhileThrottled)
	}
	if answered429 > inFlight+3 {
		t.Errorf("got %d responses with 429, want at most %d in flight plus 3", answered429, inFlight)
	}
	if inFlight > workers {
		t.Errorf("got %d requests in flight at the first 429, want at most %d", inFlight, workers)
	}
	if throttled.Load() == 0 {
		t.Error("got no call held back by the throttle gate")
	}
	if n := badErrors.Load(); n != 0 {
		t.Errorf("got %d errors that are not rate limits with a Retry-After of at most 1 s", n)
	}
	if recovered.IsZero() {
		t.Error("got no successful generate request after the fault was cleared")
	}
	if failedAfterRecovery != 0 {
		t.Errorf("got %d failed generate requests after the first success, want 0", failedAfterRecovery)
	}
}
