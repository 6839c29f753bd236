package livehub

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ErrThrottled is wrapped by the error returned when the client did not send
// a generate request because Live Hub requested a pause: a 429 or 503 response
// with Retry-After closed the throttle gate. The same error wraps a copy of
// that response's *Error whose RetryAfter is the time left, so IsRateLimited
// or IsUnavailable hold for it as they did for the response.
var ErrThrottled = errors.New("livehub: generate request not sent because Live Hub requested a pause")

// MaxRetryAfter is the longest pause that a Retry-After from Live Hub makes
// the Client keep, for token and generate requests alike. The cap bounds
// the outage that a broken or hostile header can cause, such as one that
// requests hours or names a date far ahead, while a throttled endpoint
// still gets at most one request a minute from each Client.
const MaxRetryAfter = time.Minute

// reservationGrace is how long after the gate's time a reserved probe slot is
// kept for the call that reserved it. The call wakes at that time, so only a
// stalled goroutine misses it, and the slot must not stay held for good.
const reservationGrace = time.Second

// throttleGate holds back every generate request of a Client while Live Hub
// has requested a pause with a 429 or 503 response carrying Retry-After.
//
// While closed, the gate rejects calls without sending anything. Once the
// pause has passed, it lets exactly one call through as a probe and rejects
// the others until the probe's response arrives. Any response other than
// another 429 or 503 with Retry-After opens the gate, and that one closes it
// again for its own Retry-After. A probe that gets no response, after a
// network error or a cancellation, frees the probe slot for the next call.
//
// A call that closed the gate may reserve the probe slot and wait, so that it
// rather than a later call sends the probe.
type throttleGate struct {
	mu sync.Mutex

	cause *Error    // the response that closed the gate, nil while open
	until time.Time // end of the pause, by Client.Now

	probing bool // a probe is in flight

	reserved      uint64    // ticket holding the probe slot, or 0
	reservedUntil time.Time // when the reservation lapses
	tickets       uint64    // last ticket issued
}

// throttleDelay returns the Retry-After of a 429 or 503 response to a
// generate request, at most MaxRetryAfter, or zero for any other error.
func throttleDelay(err error) time.Duration {
	e, ok := asError(err)
	if !ok || e.Op != OpGenerate {
		return 0
	}
	if e.StatusCode != http.StatusTooManyRequests && e.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	return min(e.RetryAfter, MaxRetryAfter)
}

// admit decides whether a call may send a generate request at now. ticket is
// the call's reservation, or 0. probe is true when the request is the gate's
// probe, whose result the call must pass to record.
func (g *throttleGate) admit(now time.Time, ticket uint64) (probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	mine := ticket != 0 && g.reserved == ticket
	if mine {
		g.reserved = 0
	}
	if g.cause == nil {
		return false, nil
	}
	if left := g.until.Sub(now); left > 0 {
		return false, g.rejection(left)
	}
	if g.probing || g.reserved != 0 && now.Before(g.reservedUntil) {
		// Until the probe's response arrives, the pause that Live Hub
		// requested last is the best estimate of the wait.
		return false, g.rejection(g.cause.RetryAfter)
	}
	g.reserved = 0
	g.probing = true
	return true, nil
}

// rejection returns the error of a call the gate holds back for left.
func (g *throttleGate) rejection(left time.Duration) error {
	e := *g.cause
	e.RetryAfter = left
	return fmt.Errorf("%w, %v left: %w", ErrThrottled, left.Round(time.Millisecond), &e)
}

// record updates the gate with the result of a generate request that admit
// allowed at now.
func (g *throttleGate) record(now time.Time, probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	if delay := throttleDelay(err); delay > 0 {
		e, _ := asError(err)
		if probe {
			g.probing = false
		}
		// A request sent before the gate closed lengthens the pause only
		// when its response requests a longer one.
		if g.cause == nil || probe || delay > g.cause.RetryAfter {
			capped := *e
			capped.RetryAfter = delay
			g.cause = &capped
			g.until = now.Add(delay)
		}
		return
	}
	if !probe {
		return
	}

	var e *Error
	if err == nil || errors.As(err, &e) || errors.Is(err, ErrInvalidResponse) {
		// Live Hub responded without requesting a pause.
		g.cause, g.until, g.probing, g.reserved = nil, time.Time{}, false, 0
		return
	}
	g.probing = false
}

// abandon frees the probe slot of a call that sent no request after admit.
func (g *throttleGate) abandon(probe bool) {
	if !probe {
		return
	}
	g.mu.Lock()
	g.probing = false
	g.mu.Unlock()
}

// reserve holds the probe slot for a call that will wait for the gate's pause
// to end. It returns the wait and the ticket to pass to admit. A ticket of 0
// with ok true means the gate is open and there is nothing to wait for. ok is
// false when another call holds the slot or a probe is in flight.
func (g *throttleGate) reserve(now time.Time) (wait time.Duration, ticket uint64, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()

	if g.cause == nil {
		return 0, 0, true
	}
	if g.probing || g.reserved != 0 && now.Before(g.reservedUntil) {
		return 0, 0, false
	}
	g.tickets++
	g.reserved = g.tickets
	g.reservedUntil = g.until.Add(reservationGrace)
	return max(g.until.Sub(now), 0), g.reserved, true
}

// release gives up the reservation ticket, if it still holds the slot.
func (g *throttleGate) release(ticket uint64) {
	if ticket == 0 {
		return
	}
	g.mu.Lock()
	if g.reserved == ticket {
		g.reserved = 0
	}
	g.mu.Unlock()
}
