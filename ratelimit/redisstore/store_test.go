package redisstore_test

import (
	"context"
	"errors"
	"github.com/c2cauth/c2cauth/internal/redistest"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/ratelimit"
	"github.com/c2cauth/c2cauth/ratelimit/redisstore"
	"github.com/c2cauth/c2cauth/ratelimit/storetest"
)

// TestStore runs the table that every ratelimit.Store passes, the Memory
// store included, with the clock that the table moves by hand.
func TestStore(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	storetest.Run(t, func(t *testing.T, now func() time.Time) ratelimit.Store {
		return redisstore.New(client, redisstore.Options{KeyPrefix: redistest.NewPrefix(t, opts), Now: now})
	})
}

func mustAllow(t *testing.T, s ratelimit.Store, key string, rate ratelimit.Rate) ratelimit.Result {
	t.Helper()
	result, err := s.Allow(context.Background(), key, rate)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, rate, err)
	}
	return result
}

// TestStoreRedisClock checks the decisions by Redis's own clock, as in
// production, and that each key expires when its bucket is full again.
func TestStoreRedisClock(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	store := redisstore.New(client, redisstore.Options{KeyPrefix: prefix})
	rate := ratelimit.Rate{Limit: 5, Period: time.Hour}
	ctx := context.Background()

	for i := range rate.Limit {
		result := mustAllow(t, store, "a", rate)
		if !result.Allowed {
			t.Fatalf("event %d rejected, want allowed", i+1)
		}
		if want := rate.Limit - 1 - i; result.Remaining != want {
			t.Errorf("event %d: got Remaining %d, want %d", i+1, result.Remaining, want)
		}
		// Each event adds one interval, 12 minutes, to the time the bucket
		// is full again. The test may take a few seconds of it.
		wantTTL := time.Duration(i+1) * rate.Interval()
		ttl, err := client.PTTL(ctx, prefix+"a").Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > wantTTL || ttl < wantTTL-5*time.Second {
			t.Errorf("event %d: got key TTL %v, want about %v", i+1, ttl, wantTTL)
		}
	}

	result := mustAllow(t, store, "a", rate)
	if result.Allowed {
		t.Fatal("event 6 allowed, want rejected")
	}
	if result.RetryAfter <= rate.Interval()-5*time.Second || result.RetryAfter > rate.Interval() {
		t.Errorf("got RetryAfter %v, want about %v", result.RetryAfter, rate.Interval())
	}
	ttl, err := client.PTTL(ctx, prefix+"a").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := rate.Period; ttl > want || ttl < want-5*time.Second {
		t.Errorf("after a rejection: got key TTL %v, want about %v", ttl, want)
	}
}

// TestStoreReplicas plays three replicas, each with its own connection to
// Redis, that share one limit.
func TestStoreReplicas(t *testing.T) {
	opts := redistest.Options(t)
	prefix := redistest.NewPrefix(t, opts)
	var replicas []ratelimit.Store
	for range 3 {
		replicas = append(replicas, redisstore.New(redistest.NewClient(t, opts), redisstore.Options{KeyPrefix: prefix}))
	}
	rate := ratelimit.Rate{Limit: 5, Period: time.Minute}

	// The replicas take turns, so a limit per replica would allow 15.
	allowed := 0
	for i := range 30 {
		if mustAllow(t, replicas[i%3], "user:alice", rate).Allowed {
			allowed++
		}
	}
	if allowed != rate.Limit {
		t.Errorf("got %d of 30 events allowed across 3 replicas, want %d", allowed, rate.Limit)
	}
}

// TestStoreConcurrentReplicas sends events for one key from many goroutines
// of three replicas at once.
func TestStoreConcurrentReplicas(t *testing.T) {
	opts := redistest.Options(t)
	prefix := redistest.NewPrefix(t, opts)
	rate := ratelimit.Rate{Limit: 20, Period: time.Hour}
	const perReplica = 200

	var allowed, failed atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		store := redisstore.New(redistest.NewClient(t, opts), redisstore.Options{KeyPrefix: prefix})
		for range perReplica {
			wg.Go(func() {
				result, err := store.Allow(context.Background(), "global", rate)
				switch {
				case err != nil:
					failed.Add(1)
				case result.Allowed:
					allowed.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("got %d errors, want none", n)
	}
	if n := allowed.Load(); n != int64(rate.Limit) {
		t.Errorf("got %d of %d events allowed, want %d", n, 3*perReplica, rate.Limit)
	}
}

func TestStoreRejectsUnsupportedRates(t *testing.T) {
	opts := redistest.Options(t)
	store := redisstore.New(redistest.NewClient(t, opts), redisstore.Options{KeyPrefix: redistest.NewPrefix(t, opts)})
	tests := []struct {
		name string
		rate ratelimit.Rate
	}{
		{"period too long", ratelimit.Rate{Limit: 1, Period: redisstore.MaxPeriod + 1}},
		{"limit too large", ratelimit.Rate{Limit: redisstore.MaxLimit + 1, Period: redisstore.MaxPeriod}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if result, err := store.Allow(context.Background(), "a", tt.rate); err == nil {
				t.Errorf("got %+v and no error, want an error", result)
			}
		})
	}

	longest := ratelimit.Rate{Limit: 3, Period: redisstore.MaxPeriod}
	for i := range 3 {
		if !mustAllow(t, store, "longest", longest).Allowed {
			t.Fatalf("rate %v, event %d: rejected, want allowed", longest, i+1)
		}
	}
	result := mustAllow(t, store, "longest", longest)
	if result.Allowed || result.RetryAfter <= 0 || result.RetryAfter > longest.Interval()+time.Millisecond {
		t.Errorf("rate %v, event 4: got %+v, want rejected with RetryAfter up to %v", longest, result, longest.Interval())
	}
}

func TestStoreInvalidState(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	store := redisstore.New(client, redisstore.Options{KeyPrefix: prefix})
	if err := client.Set(context.Background(), prefix+"a", "not a state", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if result, err := store.Allow(context.Background(), "a", ratelimit.Rate{Limit: 1, Period: time.Second}); err == nil {
		t.Errorf("got %+v and no error, want an error", result)
	}
}

// TestStoreRateChange checks that a key keeps its state when its rate
// changes, rounded to the strict side.
func TestStoreRateChange(t *testing.T) {
	opts := redistest.Options(t)
	store := redisstore.New(redistest.NewClient(t, opts), redisstore.Options{KeyPrefix: redistest.NewPrefix(t, opts), Now: fixedTime})
	for range 3 {
		mustAllow(t, store, "a", ratelimit.Rate{Limit: 3, Period: time.Second})
	}
	// Three events of 1/3 s used one second, which a limit of 2 a second
	// counts as its whole burst.
	result := mustAllow(t, store, "a", ratelimit.Rate{Limit: 2, Period: time.Second})
	if result.Allowed {
		t.Errorf("after the rate changed: got %+v, want rejected", result)
	}
}

func fixedTime() time.Time { return time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC) }

// TestStoreScriptFlushed checks that the store loads its script again after
// Redis has dropped it, as after a restart.
func TestStoreScriptFlushed(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	store := redisstore.New(client, redisstore.Options{KeyPrefix: redistest.NewPrefix(t, opts)})
	rate := ratelimit.Rate{Limit: 2, Period: time.Minute}
	mustAllow(t, store, "a", rate)
	if err := client.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if result := mustAllow(t, store, "a", rate); !result.Allowed || result.Remaining != 0 {
		t.Errorf("after SCRIPT FLUSH: got %+v, want allowed with Remaining 0", result)
	}
}

// TestStoreRedisAway cuts the connection to Redis while a Limiter uses the
// store, with each failure policy, and restores it.
func TestStoreRedisAway(t *testing.T) {
	tests := []struct {
		name string
		wrap func(ratelimit.Store, func(error)) ratelimit.Store
		// wantAllowed is whether a request passes while Redis is away.
		wantAllowed bool
	}{
		{"fail closed", ratelimit.FailClosed, false},
		{"fail open", ratelimit.FailOpen, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := redistest.Options(t)
			prefix := redistest.NewPrefix(t, opts)
			p := redistest.StartProxy(t, opts.Addr)
			viaProxy := *opts
			viaProxy.Addr = p.Addr()
			var reported atomic.Int64
			limiter := &ratelimit.Limiter{
				Store:  tt.wrap(redisstore.New(redistest.NewClient(t, &viaProxy), redisstore.Options{KeyPrefix: prefix}), func(error) { reported.Add(1) }),
				PerIP:  ratelimit.Rate{Limit: 1000, Period: time.Minute},
				Global: ratelimit.Rate{Limit: 1000, Period: time.Minute},
			}
			request := func() error {
				r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
				r.RemoteAddr = "192.0.2.1:1000"
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return limiter.Allow(ctx, r, identity.Identity{})
			}

			if err := request(); err != nil {
				t.Fatalf("before the cut: got %v, want allowed", err)
			}

			p.Cut()
			for i := range 3 {
				err := request()
				if tt.wantAllowed && err != nil {
					t.Errorf("cut, request %d: got %v, want allowed", i+1, err)
				}
				if !tt.wantAllowed && (err == nil || errors.Is(err, ratelimit.ErrLimited)) {
					t.Errorf("cut, request %d: got %v, want an error that is not a rate limit", i+1, err)
				}
			}
			if reported.Load() == 0 {
				t.Error("cut: no error reported, want each failure reported")
			}

			p.Restore()
			deadline := time.Now().Add(2 * time.Second)
			for {
				before := reported.Load()
				err := request()
				if err == nil && reported.Load() == before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("2 s after Redis came back: got %v, want allowed", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestStoreUnreachable checks that a store without Redis fails every event
// with an error, so the Limiter rejects the request.
func TestStoreUnreachable(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: redistest.ClosedAddr(t), MaxRetries: -1})
	defer client.Close()
	store := redisstore.New(client, redisstore.Options{})
	if result, err := store.Allow(context.Background(), "a", ratelimit.Rate{Limit: 1, Period: time.Second}); err == nil {
		t.Errorf("got %+v and no error, want an error", result)
	}
}
