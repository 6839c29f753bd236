package redistoken_test

import (
	"context"
	"github.com/c2cauth/c2cauth/internal/redistest"
	"strings"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/redistoken"
)

// Store must keep satisfying the interface that livehub.Client uses.
var _ livehub.TokenStore = (*redistoken.Store)(nil)

func TestSaveLoad(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	store := redistoken.New(client, redistoken.Options{KeyPrefix: prefix})
	ctx := context.Background()

	if _, ok, err := store.Load(ctx); ok || err != nil {
		t.Fatalf("empty store: got ok %t and error %v, want nothing", ok, err)
	}

	want := livehub.SharedToken{
		Value:    "access-token-1",
		Expiry:   time.Now().Add(15 * time.Minute).Round(0),
		Lifetime: 15 * time.Minute,
	}
	if err := store.Save(ctx, want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, ok, err := store.Load(ctx)
	if err != nil || !ok {
		t.Fatalf("Load: got ok %t and error %v, want the token", ok, err)
	}
	if got.Value != want.Value || !got.Expiry.Equal(want.Expiry) || got.Lifetime != want.Lifetime {
		t.Errorf("Load: got %+v, want %+v", got, want)
	}

	// The key expires when Clients stop using the token, a minute before
	// its expiry.
	ttl, err := client.PTTL(ctx, prefix+redistoken.TokenKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if wantTTL := 14 * time.Minute; ttl > wantTTL || ttl < wantTTL-5*time.Second {
		t.Errorf("got key TTL %v, want about %v", ttl, wantTTL)
	}
}

func TestSaveUsedUp(t *testing.T) {
	opts := redistest.Options(t)
	store := redistoken.New(redistest.NewClient(t, opts), redistoken.Options{KeyPrefix: redistest.NewPrefix(t, opts)})
	ctx := context.Background()

	// Within its last minute, the token is no longer used, so it is not
	// shared.
	token := livehub.SharedToken{Value: "old", Expiry: time.Now().Add(30 * time.Second), Lifetime: time.Hour}
	if err := store.Save(ctx, token); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, ok, err := store.Load(ctx); ok || err != nil {
		t.Errorf("Load: got ok %t and error %v, want nothing", ok, err)
	}

	for _, bad := range []livehub.SharedToken{
		{Expiry: time.Now().Add(time.Hour), Lifetime: time.Hour},
		{Value: "no-lifetime", Expiry: time.Now().Add(time.Hour)},
	} {
		if err := store.Save(ctx, bad); err == nil {
			t.Errorf("Save(%+v): got no error, want one", bad)
		}
	}
}

func TestSaveInjectedClock(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	now := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	store := redistoken.New(client, redistoken.Options{KeyPrefix: prefix, Now: func() time.Time { return now }})
	ctx := context.Background()

	token := livehub.SharedToken{Value: "token", Expiry: now.Add(900 * time.Second), Lifetime: 900 * time.Second}
	if err := store.Save(ctx, token); err != nil {
		t.Fatalf("Save: %v", err)
	}
	ttl, err := client.PTTL(ctx, prefix+redistoken.TokenKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := 840 * time.Second; ttl > want || ttl < want-5*time.Second {
		t.Errorf("got key TTL %v, want about %v", ttl, want)
	}
}

func TestLoadInvalidRecord(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	store := redistoken.New(client, redistoken.Options{KeyPrefix: prefix})
	ctx := context.Background()

	for _, record := range []string{
		`not json secret-token`,
		`{"value":"secret-token","expiry":"2030-01-02T03:04:05Z","lifetime":"soon"}`,
		`{"value":"","expiry":"2030-01-02T03:04:05Z","lifetime":"15m0s"}`,
	} {
		if err := client.Set(ctx, prefix+redistoken.TokenKey, record, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		_, ok, err := store.Load(ctx)
		if err == nil || ok {
			t.Errorf("record %s: got ok %t and error %v, want an error", record, ok, err)
			continue
		}
		if strings.Contains(err.Error(), "secret-token") {
			t.Errorf("record %s: error %q contains the token", record, err)
		}
	}
}

func TestInvalidate(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	store := redistoken.New(client, redistoken.Options{KeyPrefix: prefix})
	ctx := context.Background()
	token := livehub.SharedToken{Value: "newer", Expiry: time.Now().Add(time.Hour), Lifetime: time.Hour}
	if err := store.Save(ctx, token); err != nil {
		t.Fatal(err)
	}

	// A Client whose older token was rejected keeps the newer one.
	if err := store.Invalidate(ctx, "older"); err != nil {
		t.Fatalf("Invalidate(older): %v", err)
	}
	if got, ok, _ := store.Load(ctx); !ok || got.Value != "newer" {
		t.Fatalf("after Invalidate(older): got %q and ok %t, want the newer token", got.Value, ok)
	}

	if err := store.Invalidate(ctx, "newer"); err != nil {
		t.Fatalf("Invalidate(newer): %v", err)
	}
	if _, ok, _ := store.Load(ctx); ok {
		t.Error("after Invalidate(newer): the token is still there")
	}
	if err := store.Invalidate(ctx, "newer"); err != nil {
		t.Errorf("Invalidate with no token: %v", err)
	}

	// A record that does not decode is of no use, so it goes too.
	if err := client.Set(ctx, prefix+redistoken.TokenKey, "garbage", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := store.Invalidate(ctx, "newer"); err != nil {
		t.Fatalf("Invalidate over garbage: %v", err)
	}
	if n, _ := client.Exists(ctx, prefix+redistoken.TokenKey).Result(); n != 0 {
		t.Error("a record that does not decode was kept")
	}
}

func TestLock(t *testing.T) {
	opts := redistest.Options(t)
	client := redistest.NewClient(t, opts)
	prefix := redistest.NewPrefix(t, opts)
	replicaA := redistoken.New(client, redistoken.Options{KeyPrefix: prefix})
	replicaB := redistoken.New(redistest.NewClient(t, opts), redistoken.Options{KeyPrefix: prefix})
	ctx := context.Background()

	unlockA, ok, err := replicaA.Lock(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("first Lock: got ok %t and error %v, want the lock", ok, err)
	}
	if ttl, _ := client.PTTL(ctx, prefix+redistoken.LockKey).Result(); ttl <= 55*time.Second || ttl > time.Minute {
		t.Errorf("got lock TTL %v, want the lease of 1m0s", ttl)
	}
	if _, ok, err := replicaB.Lock(ctx, time.Minute); ok || err != nil {
		t.Fatalf("second Lock: got ok %t and error %v, want not taken", ok, err)
	}
	unlockA()
	unlockB, ok, err := replicaB.Lock(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after unlock: got ok %t and error %v, want the lock", ok, err)
	}

	// A holder whose lease lapsed must not release the next holder's
	// lock. Deleting the key plays the lapse.
	client.Del(ctx, prefix+redistoken.LockKey)
	unlockA2, ok, err := replicaA.Lock(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock after the lapse: got ok %t and error %v, want the lock", ok, err)
	}
	unlockB()
	if _, ok, _ := replicaB.Lock(ctx, time.Minute); ok {
		t.Error("a lapsed holder's unlock released the next holder's lock")
	}
	unlockA2()

	if _, _, err := replicaA.Lock(ctx, 0); err == nil {
		t.Error("Lock with a zero lease: got no error, want one")
	}
}
