// Package redisstore is a ratelimit.Store that keeps its counts in Redis, so
// that every replica of a program enforces one limit.
//
// Each key is one Redis string with the key's state under the generic cell
// rate algorithm (GCRA). A Lua script checks and counts an event as one
// atomic step, so replicas never race on a key. The script reads Redis's
// clock (TIME) rather than the replica's, so replicas whose clocks disagree
// still decide alike. A key expires when its bucket is full again, because
// a full bucket decides like a key never seen, so Redis keeps only the keys
// used within their Period.
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/c2cauth/c2cauth/ratelimit"
)

// MaxPeriod is the longest Period, and MaxLimit the largest Limit, that a
// Store accepts. The script computes with Lua numbers, which are doubles and
// exact only for whole numbers below 2^53, and it keeps every duration in
// nanoseconds below that bound. 2^52 nanoseconds is about 52 days.
const (
	MaxPeriod = time.Duration(1 << 52)
	MaxLimit  = 1 << 52
)

// keepWithInjectedClock is how long a key outlives its bucket's refill when
// Options.Now is set. Redis expires keys by its own clock, which an injected
// clock does not drive, and a test must not lose a key's state while its
// clock does not move.
const keepWithInjectedClock = time.Minute

//go:embed allow.lua
var allowSource string

// allowScript runs with EVALSHA and falls back to EVAL when Redis does not
// have the script cached, after a restart or SCRIPT FLUSH.
var allowScript = redis.NewScript(allowSource)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// KeyPrefix is put before every key, such as "c2cauth:ratelimit:", to
	// keep the keys apart from other users of the same Redis database.
	KeyPrefix string

	// Now, when set, supplies the time that decisions are made at, in place
	// of Redis's clock. Nil means Redis's clock, which production must use
	// so that all replicas agree. Tests set it to move time by hand. Redis
	// still expires keys by its own clock, so with Now set each key is kept
	// one minute longer than its bucket takes to refill by Now.
	Now func() time.Time
}

// Store is a ratelimit.Store in Redis. It is safe for concurrent use, also
// by many processes that share one Redis.
//
// A Redis error, a timeout included, fails the event with an error that
// wraps it, and the event may or may not have been counted. go-redis sends
// a command again when its connection broke, so an event whose reply was
// lost may be counted twice, which errs on the strict side. go-redis also
// reconnects by itself, so the store works again once Redis does.
type Store struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

// New returns a Store that keeps its counts in Redis through client. The
// caller keeps ownership of client and closes it.
func New(client redis.UniversalClient, opts Options) *Store {
	return &Store{client: client, prefix: opts.KeyPrefix, now: opts.Now}
}

// Allow checks and counts one event for key at rate, as the ratelimit.Store
// interface describes. It also returns an error for a rate beyond MaxPeriod
// or MaxLimit.
func (s *Store) Allow(ctx context.Context, key string, rate ratelimit.Rate) (ratelimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Result{}, fmt.Errorf("redisstore: %w", err)
	}
	if !rate.Enabled() {
		return ratelimit.Result{}, fmt.Errorf("redisstore: rate with limit %d and period %s is not enabled", rate.Limit, rate.Period)
	}
	if rate.Period > MaxPeriod || rate.Limit > MaxLimit {
		return ratelimit.Result{}, fmt.Errorf("redisstore: rate %v exceeds the supported maximum period %v or limit %d", rate, MaxPeriod, int64(MaxLimit))
	}

	interval, tolerance := gcraSpans(rate)
	args := []any{interval.ns, interval.frac, rate.Limit, tolerance.ns, tolerance.frac, "", "", 0}
	if s.now != nil {
		now := s.now()
		args[5], args[6], args[7] = now.Unix(), now.Nanosecond(), keepWithInjectedClock.Milliseconds()
	}
	reply, err := allowScript.Run(ctx, s.client, []string{s.prefix + key}, args...).Int64Slice()
	if err != nil {
		return ratelimit.Result{}, fmt.Errorf("redisstore: rate limit script failed: %w", err)
	}
	if len(reply) != 3 {
		return ratelimit.Result{}, fmt.Errorf("redisstore: rate limit script returned %d values, want 3", len(reply))
	}

	wait := span{ns: reply[1], frac: reply[2]}
	if wait.ns < 0 || wait.frac < 0 || wait.frac >= int64(rate.Limit) {
		return ratelimit.Result{}, fmt.Errorf("redisstore: rate limit script returned an invalid wait %d + %d/%d ns", wait.ns, wait.frac, rate.Limit)
	}
	if reply[0] != 1 {
		return ratelimit.Result{RetryAfter: retryAfter(wait, tolerance)}, nil
	}
	used, err := intervalsIn(wait, rate)
	if err != nil {
		return ratelimit.Result{}, err
	}
	return ratelimit.Result{Allowed: true, Remaining: int(max(int64(rate.Limit)-used, 0))}, nil
}

// span is a duration of ns + frac/Limit nanoseconds, which represents
// Period/Limit exactly.
type span struct {
	ns, frac int64
}

// gcraSpans returns the emission interval Period/Limit and the tolerance
// (Limit-1)·Period/Limit: how far the bucket's full time may lie ahead of
// now for one more event to be allowed. The 128-bit product keeps
// (Limit-1)·Period from overflowing.
func gcraSpans(rate ratelimit.Rate) (interval, tolerance span) {
	limit, period := uint64(rate.Limit), uint64(rate.Period)
	interval = span{ns: int64(period / limit), frac: int64(period % limit)}

	hi, lo := bits.Mul64(limit-1, period)
	ns, frac := bits.Div64(hi, lo, limit) // hi < limit, because the quotient is below period
	tolerance = span{ns: int64(ns), frac: int64(frac)}
	return interval, tolerance
}

// retryAfter returns how long after now the next event is allowed when the
// bucket's full time lies wait ahead: wait minus tolerance, rounded up to a
// whole millisecond. The caller has checked that wait exceeds tolerance.
func retryAfter(wait, tolerance span) time.Duration {
	ns := wait.ns - tolerance.ns
	if wait.frac > tolerance.frac {
		ns++ // the rest is a positive fraction of a nanosecond
	}
	d := time.Duration(max(ns, 1))
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// intervalsIn returns how many emission intervals wait spans, rounded up:
// the events used from the bucket. That is (ns·Limit + frac) / Period,
// computed in 128 bits.
func intervalsIn(wait span, rate ratelimit.Rate) (int64, error) {
	hi, lo := bits.Mul64(uint64(wait.ns), uint64(rate.Limit))
	lo, carry := bits.Add64(lo, uint64(wait.frac), 0)
	hi += carry
	if hi >= uint64(rate.Period) {
		return 0, errors.New("redisstore: rate limit script returned a wait beyond the rate's period")
	}
	quotient, remainder := bits.Div64(hi, lo, uint64(rate.Period))
	if remainder > 0 {
		quotient++
	}
	return int64(quotient), nil
}
