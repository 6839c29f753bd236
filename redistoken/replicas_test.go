package redistoken_test

import (
	"context"
	"github.com/c2cauth/c2cauth/internal/clocktest"
	"github.com/c2cauth/c2cauth/internal/redistest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/c2cauth/c2cauth/emulator"
	"github.com/c2cauth/c2cauth/emulator/emulatortest"
	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/redistoken"
)

// replica is one of several livehub.Clients that stand for the replicas of
// a program, each with its own connection to Redis.
type replica struct {
	client *livehub.Client

	// storeErrors counts the failed token store calls reported, and
	// sharedTaken the tokens taken from the store.
	storeErrors, sharedTaken atomic.Int64

	// fetched receives each finished background token request, and each
	// token taken from the store for one.
	fetched chan struct{}
}

// startReplicas returns n Clients of em that share tokens through a Redis
// store at redisOpts under prefix. now is the clock of the Clients and the
// stores, nil for the real one.
func startReplicas(t *testing.T, n int, em *emulatortest.Server, redisOpts *redis.Options, prefix string, now func() time.Time) []*replica {
	t.Helper()
	var replicas []*replica
	for range n {
		r := &replica{fetched: make(chan struct{}, 16)}
		store := redistoken.New(redistest.NewClient(t, redisOpts), redistoken.Options{KeyPrefix: prefix, Now: now})
		r.client = &livehub.Client{
			BaseURL:      em.URL,
			ClientID:     em.ClientID,
			ClientSecret: em.ClientSecret,
			Now:          now,
			TokenStore:   store,
			Observer: &livehub.Observer{
				TokenStore: func(_ context.Context, e livehub.TokenStoreEvent) {
					if e.Err != nil {
						r.storeErrors.Add(1)
						return
					}
					r.sharedTaken.Add(1)
					if e.Background {
						r.fetched <- struct{}{}
					}
				},
				TokenFetch: func(_ context.Context, e livehub.TokenFetchEvent) {
					if e.Background {
						r.fetched <- struct{}{}
					}
				},
			},
		}
		t.Cleanup(r.client.CloseIdleConnections)
		replicas = append(replicas, r)
	}
	return replicas
}

// startEmulator starts an emulator that is closed when the test ends.
func startEmulator(t *testing.T, cfg emulator.Config) *emulatortest.Server {
	t.Helper()
	em := emulatortest.NewServer(cfg)
	t.Cleanup(em.Close)
	return em
}

// generateConcurrently makes perReplica calls at once on every replica and
// returns how many failed, after reporting the first few failures.
func generateConcurrently(t *testing.T, replicas []*replica, perReplica int, sipConnection string) int {
	t.Helper()
	start := make(chan struct{})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, r := range replicas {
		for range perReplica {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := r.client.GenerateAuthenticationCode(ctx, sipConnection, ""); err != nil {
					if failed.Add(1) <= 3 {
						t.Errorf("GenerateAuthenticationCode: %v", err)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return int(failed.Load())
}

// TestReplicasColdStart starts three replicas together under 300 concurrent
// calls, which must cost Live Hub one token request.
func TestReplicasColdStart(t *testing.T) {
	opts := redistest.Options(t)
	em := startEmulator(t, emulator.Config{})
	replicas := startReplicas(t, 3, em, opts, redistest.NewPrefix(t, opts), nil)

	if failed := generateConcurrently(t, replicas, 100, em.SIPConnection); failed != 0 {
		t.Errorf("got %d of 300 calls failed, want none", failed)
	}
	stats := em.Emulator.Stats()
	if stats.TokenRequests != 1 {
		t.Errorf("got %d token requests, want 1", stats.TokenRequests)
	}
	if stats.CodesIssued != 300 {
		t.Errorf("got %d codes issued, want 300", stats.CodesIssued)
	}
	for i, r := range replicas {
		if n := r.storeErrors.Load(); n != 0 {
			t.Errorf("replica %d: got %d token store errors, want none", i+1, n)
		}
	}
}

// TestReplicasRevoked revokes the shared token at Live Hub: the replicas
// must recover with at most two token requests among them.
func TestReplicasRevoked(t *testing.T) {
	opts := redistest.Options(t)
	em := startEmulator(t, emulator.Config{})
	replicas := startReplicas(t, 3, em, opts, redistest.NewPrefix(t, opts), nil)
	if failed := generateConcurrently(t, replicas, 10, em.SIPConnection); failed != 0 {
		t.Fatalf("before the revocation: got %d of 30 calls failed, want none", failed)
	}
	before := em.Emulator.Stats().TokenRequests

	em.Emulator.RevokeTokens()
	if failed := generateConcurrently(t, replicas, 30, em.SIPConnection); failed != 0 {
		t.Errorf("after the revocation: got %d of 90 calls failed, want none", failed)
	}
	if got := em.Emulator.Stats().TokenRequests - before; got < 1 || got > 2 {
		t.Errorf("got %d token requests after the revocation, want 1 or 2", got)
	}

	// Every replica now holds a valid token, so no call gets a 401.
	generateBefore := em.Emulator.Stats()
	if failed := generateConcurrently(t, replicas, 10, em.SIPConnection); failed != 0 {
		t.Errorf("after recovery: got %d of 30 calls failed, want none", failed)
	}
	after := em.Emulator.Stats()
	if requests, codes := after.GenerateRequests-generateBefore.GenerateRequests, after.CodesIssued-generateBefore.CodesIssued; requests != codes {
		t.Errorf("after recovery: got %d generate requests for %d codes, want no rejected token", requests, codes)
	}
}

// TestReplicasStoreUnreachable points the replicas at a Redis address where
// nothing listens: each must obtain its own token and keep issuing codes.
func TestReplicasStoreUnreachable(t *testing.T) {
	em := startEmulator(t, emulator.Config{})
	unreachable := &redis.Options{Addr: redistest.ClosedAddr(t)}
	replicas := startReplicas(t, 3, em, unreachable, "c2cauth-test:", nil)

	if failed := generateConcurrently(t, replicas, 20, em.SIPConnection); failed != 0 {
		t.Errorf("got %d of 60 calls failed, want none", failed)
	}
	if got := em.Emulator.Stats().TokenRequests; got != 3 {
		t.Errorf("got %d token requests, want one per replica", got)
	}
	for i, r := range replicas {
		if r.storeErrors.Load() == 0 {
			t.Errorf("replica %d: no token store error reported", i+1)
		}
	}
}

// TestReplicasRefreshAhead moves one clock for the emulator, the replicas and
// their stores past three quarters of the token lifetime: one replica
// requests the next token, and the others take it from the store before the
// first one expires.
func TestReplicasRefreshAhead(t *testing.T) {
	opts := redistest.Options(t)
	clock := clocktest.New(time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC))
	em := startEmulator(t, emulator.Config{TokenTTL: 900 * time.Second, Now: clock.Now})
	replicas := startReplicas(t, 3, em, opts, redistest.NewPrefix(t, opts), clock.Now)
	if failed := generateConcurrently(t, replicas, 10, em.SIPConnection); failed != 0 {
		t.Fatalf("at 0 s: got %d of 30 calls failed, want none", failed)
	}

	clock.Advance(700 * time.Second)
	if failed := generateConcurrently(t, replicas, 10, em.SIPConnection); failed != 0 {
		t.Fatalf("at 700 s: got %d of 30 calls failed, want none", failed)
	}
	for i, r := range replicas {
		select {
		case <-r.fetched:
		case <-time.After(10 * time.Second):
			t.Fatalf("replica %d: no background token within 10 s", i+1)
		}
	}
	if got := em.Emulator.Stats().TokenRequests; got != 2 {
		t.Errorf("after 700 s: got %d token requests, want 2", got)
	}

	// The emulator rejects the first token from 900 s on.
	clock.Advance(201 * time.Second)
	before := em.Emulator.Stats()
	if failed := generateConcurrently(t, replicas, 10, em.SIPConnection); failed != 0 {
		t.Fatalf("at 901 s: got %d of 30 calls failed, want none", failed)
	}
	after := em.Emulator.Stats()
	if after.TokenRequests != 2 {
		t.Errorf("at 901 s: got %d token requests, want still 2", after.TokenRequests)
	}
	if requests, codes := after.GenerateRequests-before.GenerateRequests, after.CodesIssued-before.CodesIssued; requests != codes {
		t.Errorf("at 901 s: got %d generate requests for %d codes, want no expired token used", requests, codes)
	}
}
