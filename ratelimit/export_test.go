package ratelimit

import "time"

// SetFailureClock sets the clock of a store returned by FailClosed,
// FailOpen or Fallback, so tests can pass its hold-off without sleeping.
func SetFailureClock(s Store, now func() time.Time) {
	s.(*failureStore).now = now
}

// FailureHoldOff is failureHoldOff, for tests.
const FailureHoldOff = failureHoldOff
