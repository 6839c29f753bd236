// Package ratelimit bounds how often authentication codes are issued, per
// user, per client IP and overall.
//
// Every code can start a paid call, so the limits are the defence against
// toll fraud and call pumping that remains when a visitor is allowed to ask
// at all. A Limiter applies the configured limits to a request. It keeps its
// counts in a Store: Memory for one process, or a shared store (Redis) so
// that every replica enforces the same limit.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a limit of Limit events per Period, with bursts of up to Limit
// events. The zero Rate means no limit; see Enabled.
type Rate struct {
	Limit  int
	Period time.Duration
}

// ParseRate reads a rate written as N/DURATION, such as "5/1m", "100/1s",
// "10/1h" or "3/30s": N is a positive whole number and DURATION a Go
// duration (time.ParseDuration). The empty string, "0" and "off" mean no
// limit and return the zero Rate. Any other value that is not a rate gets
// a *RateError.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" || strings.EqualFold(s, "off") {
		return Rate{}, nil
	}

	limitText, periodText, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, rateError(s, "missing \"/\"")
	}
	limit, err := strconv.Atoi(limitText)
	if err != nil || limit <= 0 {
		return Rate{}, rateError(s, fmt.Sprintf("limit %q is not a positive whole number", limitText))
	}
	period, err := time.ParseDuration(periodText)
	if err != nil {
		if _, unitErr := time.ParseDuration("1" + periodText); unitErr == nil {
			return Rate{}, rateError(s, fmt.Sprintf("duration %q has no number; did you mean %q?", periodText, limitText+"/1"+periodText))
		}
		return Rate{}, rateError(s, fmt.Sprintf("%q is not a duration such as 1m or 30s", periodText))
	}
	if period <= 0 {
		return Rate{}, rateError(s, fmt.Sprintf("duration %q is not positive", periodText))
	}

	if period < time.Duration(limit) {
		return Rate{}, rateError(s, "more than one event per nanosecond")
	}
	return Rate{Limit: limit, Period: period}, nil
}

// RateError is the error of ParseRate for a value that is not a rate.
type RateError struct {
	Value  string // the text given to ParseRate
	Reason string // what is wrong with it, such as `limit "x" is not a positive whole number`
}

// Error returns the package, the value, the reason and the expected form.
func (e *RateError) Error() string {
	return fmt.Sprintf("ratelimit: invalid rate %q: %s; want N/DURATION such as \"5/1m\", or \"off\"", e.Value, e.Reason)
}

// rateError returns ParseRate's error for value s.
func rateError(s, reason string) error {
	return &RateError{Value: s, Reason: reason}
}

// Enabled reports whether r limits anything: a positive Limit and Period.
func (r Rate) Enabled() bool {
	return r.Limit > 0 && r.Period > 0
}

// Interval returns Period/Limit rounded up to a whole nanosecond: the time
// that one event takes to become available again once a burst is used up.
// It returns 0 when r is not enabled.
func (r Rate) Interval() time.Duration {
	if !r.Enabled() {
		return 0
	}
	limit := time.Duration(r.Limit)
	return (r.Period + limit - 1) / limit
}

// String returns r in the form ParseRate reads, with the period in its
// largest whole unit ("5/1m", "3/30s", "1/1500ms"), or "off" when r is not
// enabled.
func (r Rate) String() string {
	if !r.Enabled() {
		return "off"
	}
	units := []struct {
		size time.Duration
		name string
	}{
		{time.Hour, "h"},
		{time.Minute, "m"},
		{time.Second, "s"},
		{time.Millisecond, "ms"},
		{time.Microsecond, "us"},
	}
	for _, unit := range units {
		if r.Period%unit.size == 0 {
			return fmt.Sprintf("%d/%d%s", r.Limit, r.Period/unit.size, unit.name)
		}
	}
	return fmt.Sprintf("%d/%dns", r.Limit, int64(r.Period))
}

// Result is a Store's decision on one event.
type Result struct {
	// Allowed reports whether the event was allowed and counted.
	Allowed bool

	// RetryAfter is zero when the event was allowed. Otherwise it is the
	// time until one event will be allowed, rounded up to a whole
	// millisecond: more than zero and at most Interval rounded up.
	RetryAfter time.Duration

	// Remaining is how many more events the key may have right now, after
	// this one. It is 0 when the event was rejected.
	Remaining int
}

// Store counts events per key. Implementations must be safe for concurrent
// use, and every Store must decide as described here, so that a program can
// switch stores without changing its limits. The storetest package checks
// these rules against any Store.
//
// Allow checks and counts one event for key at rate as one atomic step. A
// key starts with rate.Limit events available. Each allowed event uses one,
// and availability comes back continuously at one event per rate.Interval,
// up to rate.Limit. So a burst of up to Limit events passes at once, and
// after that one event per Period/Limit. In any span of time d, at most
// Limit + d/Interval events are allowed. This is the generic cell rate
// algorithm (GCRA) with emission interval Period/Limit. A token bucket of
// size Limit that refills at Limit per Period decides the same way.
//
// A rejected event is not counted, so retrying early does not push the
// next allowed event further away. Result.RetryAfter on a rejection is the
// time from now until the next event will be allowed, unless others use it
// first.
//
// Allow returns an error, and counts nothing, for a rate that is not
// Enabled, for a canceled context, and whenever the store cannot decide.
// Callers must then reject the event, because an unchecked limit lets
// anyone start paid calls.
//
// A key's state carries over when a later call passes another rate for the
// same key, so callers keep one rate per key.
type Store interface {
	Allow(ctx context.Context, key string, rate Rate) (Result, error)
}
