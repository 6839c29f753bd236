package livehub

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Retry defaults. Backoff before the nth retry is a random delay from zero to
// backoffBase·2^(n-1), at most backoffMax ("full jitter"), which spreads the
// retries of many calls that failed at the same moment.
const (
	defaultMaxAttempts  = 3
	defaultMaxRetryWait = 2 * time.Second
	backoffBase         = 50 * time.Millisecond
	backoffMax          = time.Second
)

// Retry budget defaults. maxRetryBalance bounds what first attempts can earn,
// so a long healthy period does not allow an unlimited burst of retries when
// an outage begins.
const (
	defaultRetryRatio          = 0.3
	defaultMinRetriesPerSecond = 10
	maxRetryBalance            = 100
)

// RetryBudget limits the retries of generate requests across all calls of one
// Client, so that during an outage retries add a bounded share to the load
// on Live Hub rather than multiplying it. Each call's first generate request
// earns Ratio of a retry, each retry spends one, and MinPerSecond retries a
// second are allowed whatever was earned. When the budget is spent, a call
// returns its error instead of retrying.
//
// With the defaults, a total outage costs at most 1.3 generate requests per
// call plus 10 a second. A failure rate of 20% needs about 0.25 retries per
// call, so the default Ratio leaves room for the spread of random failures
// and nearly every retry that MaxAttempts allows is made. The zero value
// means the defaults.
type RetryBudget struct {
	// Ratio is the share of a retry that each call's first request earns.
	// Zero means 0.3. A negative value earns nothing, which leaves only
	// MinPerSecond.
	Ratio float64

	// MinPerSecond is the rate of retries allowed whatever was earned, with
	// a burst of one second's worth. Zero means 10. A negative value allows
	// none.
	MinPerSecond float64

	// Disabled turns the budget off, so that only MaxAttempts and the
	// caller's deadline limit retries.
	Disabled bool
}

// retryBudgetState is the balance of a RetryBudget. Retries are taken from
// the per-second reserve first, because it refills by itself, and from the
// earned balance only when the reserve is empty.
type retryBudgetState struct {
	mu       sync.Mutex
	started  bool
	balance  float64 // earned retries, at most maxRetryBalance
	reserve  float64 // MinPerSecond retries, at most one second's worth
	refilled time.Time
}

func (b RetryBudget) ratio() float64 {
	switch {
	case b.Ratio == 0:
		return defaultRetryRatio
	case b.Ratio < 0:
		return 0
	}
	return b.Ratio
}

func (b RetryBudget) minPerSecond() float64 {
	switch {
	case b.MinPerSecond == 0:
		return defaultMinRetriesPerSecond
	case b.MinPerSecond < 0:
		return 0
	}
	return b.MinPerSecond
}

// depositRetry credits the budget for one call's first generate request.
func (c *Client) depositRetry() {
	if c.RetryBudget.Disabled {
		return
	}
	s := &c.retryBudget
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = min(s.balance+c.RetryBudget.ratio(), maxRetryBalance)
}

// withdrawRetry takes one retry from the budget and reports whether there
// was one.
func (c *Client) withdrawRetry() bool {
	if c.RetryBudget.Disabled {
		return true
	}
	rate := c.RetryBudget.minPerSecond()
	// A rate under one a second still allows one retry at a time.
	capacity := rate
	if rate > 0 {
		capacity = max(rate, 1)
	}

	s := &c.retryBudget
	s.mu.Lock()
	defer s.mu.Unlock()
	now := c.now()
	if !s.started {
		s.started, s.reserve, s.refilled = true, capacity, now
	}
	// An injected clock may go backwards; the reserve then waits for it.
	if elapsed := now.Sub(s.refilled); elapsed > 0 {
		s.reserve = min(s.reserve+elapsed.Seconds()*rate, capacity)
		s.refilled = now
	}

	switch {
	case s.reserve >= 1:
		s.reserve--
	case s.balance >= 1:
		s.balance--
	default:
		return false
	}
	return true
}

// retryableStatus reports whether a generate response with status may
// succeed when sent again.
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status <= 599
}

// planRetry decides whether a call retries after its failures-th retryable
// error err, and how long it waits first. A response that closed the
// throttle gate is waited out and the call then probes the gate, for which
// planRetry returns a ticket. ok is false when err must be returned instead:
// no attempts are left, the wait would end after ctx's deadline or exceed
// MaxRetryWait, another call already waits to probe, or the retry budget is
// spent.
func (c *Client) planRetry(ctx context.Context, err error, failures int) (wait time.Duration, ticket uint64, ok bool) {
	if failures >= c.maxAttempts() {
		return 0, 0, false
	}

	if throttleDelay(err) > 0 {
		wait, ticket, ok = c.gate.reserve(c.now())
		if !ok {
			return 0, 0, false
		}
	}
	if ticket == 0 {
		wait = min(c.backoff(failures), c.maxRetryWait())
	}
	if !c.fits(ctx, wait) || !c.withdrawRetry() {
		c.gate.release(ticket)
		return 0, 0, false
	}
	return wait, ticket, true
}

// fits reports whether a wait of d ends before ctx's deadline and is within
// MaxRetryWait.
func (c *Client) fits(ctx context.Context, d time.Duration) bool {
	if d > c.maxRetryWait() {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && d >= time.Until(deadline) {
		return false
	}
	return true
}

// backoff returns the random wait before the retry that follows the
// failures-th failure.
func (c *Client) backoff(failures int) time.Duration {
	ceiling := backoffMax
	if failures <= 5 {
		ceiling = min(backoffBase<<(failures-1), backoffMax)
	}
	f := c.random()
	if f < 0 || f >= 1 {
		f = 0
	}
	return time.Duration(f * float64(ceiling))
}

// sleep waits for d or until ctx is done, and returns ctx's error in the
// second case.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) maxAttempts() int {
	if c.MaxAttempts <= 0 {
		return defaultMaxAttempts
	}
	return c.MaxAttempts
}

func (c *Client) maxRetryWait() time.Duration {
	if c.MaxRetryWait <= 0 {
		return defaultMaxRetryWait
	}
	return c.MaxRetryWait
}

func (c *Client) random() float64 {
	if c.Random == nil {
		return rand.Float64()
	}
	return c.Random()
}
