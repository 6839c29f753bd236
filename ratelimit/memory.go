package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the zero values of MemoryOptions.
const (
	DefaultMaxKeys       = 1_000_000
	DefaultSweepInterval = time.Minute
)

// ErrMemoryFull marks an event rejected because a Memory store already
// tracks MaxKeys keys, none of them idle, and the event needs a new one.
var ErrMemoryFull = errors.New("ratelimit: memory store is full")

// shardCount is how many independently locked parts a Memory store has.
const shardCount = 32

// fullSweepGap is the shortest time between two sweeps of the whole store
// that a full store forces. A store full of busy keys would otherwise scan
// every key on each request for a new one.
const fullSweepGap = time.Second

// MemoryOptions configures a Memory store. The zero value is ready to use.
type MemoryOptions struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// MaxKeys caps how many keys the store tracks, so that a flood of new
	// keys cannot exhaust memory. Zero means DefaultMaxKeys.
	MaxKeys int

	// SweepInterval is how often each part of the store drops idle keys,
	// checked on access. Zero means DefaultSweepInterval.
	SweepInterval time.Duration
}

// Memory is a Store that keeps one token bucket (a *rate.Limiter from
// golang.org/x/time/rate) per key in the process's memory. It is safe for
// concurrent use. Replicas of a program each have their own Memory, so a
// limit is enforced per process. A shared store enforces one limit across
// replicas.
//
// Memory stays bounded. A key whose bucket has refilled, which takes at
// most Period without events, decides exactly like a key never seen, so
// it is dropped. Each of the store's parts drops such idle keys when it
// is accessed and its last sweep is SweepInterval old, so no background
// goroutine is needed. At MaxKeys keys, an event for a new key first
// sweeps the whole store (at most once a second) and, when no key was
// idle, fails closed with an error wrapping ErrMemoryFull, while known
// keys keep working. Evicting a busy key instead would hand whoever fills
// the store a fresh burst for every key they make room for. A key with a
// short name costs about 170 bytes (measured on amd64 with Go 1.26), so
// DefaultMaxKeys allows for about 170 MB.
type Memory struct {
	now           func() time.Time
	maxKeys       int64
	sweepInterval time.Duration
	seed          maphash.Seed
	keys          atomic.Int64
	shards        [shardCount]shard

	fullSweepMu   sync.Mutex
	lastFullSweep time.Time
}

// shard is one independently locked part of a Memory store.
type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket is the state of one key.
type bucket struct {
	limiter *rate.Limiter
	rate    Rate
}

// NewMemory returns an empty Memory store.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		now:           opts.Now,
		maxKeys:       int64(opts.MaxKeys),
		sweepInterval: opts.SweepInterval,
		seed:          maphash.MakeSeed(),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.maxKeys <= 0 {
		m.maxKeys = DefaultMaxKeys
	}
	if m.sweepInterval <= 0 {
		m.sweepInterval = DefaultSweepInterval
	}
	for i := range m.shards {
		m.shards[i].buckets = make(map[string]*bucket)
	}
	return m
}

// Allow checks and counts one event for key at r, as the Store interface
// describes.
func (m *Memory) Allow(ctx context.Context, key string, r Rate) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("ratelimit: %w", err)
	}
	if !r.Enabled() {
		return Result{}, fmt.Errorf("ratelimit: rate with limit %d and period %s is not enabled", r.Limit, r.Period)
	}

	now := m.now()
	result, err := m.allow(key, r, now)
	if errors.Is(err, ErrMemoryFull) {
		m.sweepAll(now)
		result, err = m.allow(key, r, now)
	}
	return result, err
}

// allow counts one event for key at r in the key's shard.
func (m *Memory) allow(key string, r Rate, now time.Time) (Result, error) {
	sh := &m.shards[maphash.String(m.seed, key)%shardCount]
	// The shard stays locked while the event is counted, so that a sweep
	// cannot drop a bucket between its lookup and its use.
	sh.mu.Lock()
	defer sh.mu.Unlock()

	if now.Sub(sh.lastSweep) >= m.sweepInterval {
		m.sweep(sh, now)
	}
	b, err := m.bucket(sh, key, r, now)
	if err != nil {
		return Result{}, err
	}
	return b.take(now), nil
}

// Len returns how many keys the store tracks, idle ones not yet swept
// included.
func (m *Memory) Len() int {
	return int(m.keys.Load())
}

// bucket returns the bucket of key in sh, creating it if there is room.
// The caller holds sh.mu.
func (m *Memory) bucket(sh *shard, key string, r Rate, now time.Time) (*bucket, error) {
	if b := sh.buckets[key]; b != nil {
		if b.rate != r {
			b.limiter.SetLimitAt(now, limitOf(r))
			b.limiter.SetBurstAt(now, r.Limit)
			b.rate = r
		}
		return b, nil
	}

	if !m.reserveKey() {
		return nil, fmt.Errorf("%w: it tracks %d keys", ErrMemoryFull, m.maxKeys)
	}
	b := &bucket{limiter: rate.NewLimiter(limitOf(r), r.Limit), rate: r}
	sh.buckets[key] = b
	return b, nil
}

// reserveKey counts one more key unless the store is full.
func (m *Memory) reserveKey() bool {
	for {
		n := m.keys.Load()
		if n >= m.maxKeys {
			return false
		}
		if m.keys.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sweepAll sweeps every shard, unless another call did within
// fullSweepGap. Shards not accessed lately may hold idle keys that their
// own sweep has not dropped yet.
func (m *Memory) sweepAll(now time.Time) {
	m.fullSweepMu.Lock()
	defer m.fullSweepMu.Unlock()
	if now.Sub(m.lastFullSweep) < fullSweepGap {
		return
	}
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		m.sweep(sh, now)
		sh.mu.Unlock()
	}
	m.lastFullSweep = now
}

// sweep drops the keys of sh whose bucket is full. The caller holds sh.mu.
func (m *Memory) sweep(sh *shard, now time.Time) {
	for key, b := range sh.buckets {
		if b.limiter.TokensAt(now) >= float64(b.rate.Limit) {
			delete(sh.buckets, key)
			m.keys.Add(-1)
		}
	}
	sh.lastSweep = now
}

// take counts one event at now if the bucket has a token for it.
func (b *bucket) take(now time.Time) Result {
	lim := b.limiter
	if lim.AllowN(now, 1) {
		// The small allowance absorbs float64 error, which could turn
		// 2 tokens into 1.9999999999999998.
		remaining := int(math.Floor(lim.TokensAt(now) + 1e-9))
		return Result{Allowed: true, Remaining: max(remaining, 0)}
	}

	// The wait for the missing part of a token is computed from the
	// bucket's state instead of taking and canceling a reservation, which
	// would leave float64 error in the bucket on every rejection.
	missing := 1 - lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(lim.Limit()) * float64(time.Second)))
	retryAfter := roundUpToMillisecond(wait)
	// Retrying after RetryAfter must succeed, whatever float64 error the
	// limiter makes when it refills. A few steps always suffice.
	for range 3 {
		if lim.TokensAt(now.Add(retryAfter)) >= 1 {
			break
		}
		retryAfter += time.Millisecond
	}
	return Result{RetryAfter: retryAfter}
}

// limitOf returns r as a rate.Limit in events per second. It is one
// float64 step above the exact quotient, so that Interval worth of refill
// makes at least one whole token despite rounding.
func limitOf(r Rate) rate.Limit {
	return rate.Limit(math.Nextafter(float64(r.Limit)/r.Period.Seconds(), math.Inf(1)))
}

// roundUpToMillisecond rounds a positive d up to a whole millisecond.
func roundUpToMillisecond(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Millisecond
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}
