package livehub_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
)

var errStoreDown = errors.New("token store down")

// memoryTokenStore is a TokenStore in memory, shared by the Clients of one
// test as a Redis store is by replicas. Its lock lapses by the real clock.
type memoryTokenStore struct {
	mu          sync.Mutex
	token       *livehub.SharedToken
	lockOwner   int // 0 when free
	lockUntil   time.Time
	owners      int
	invalidated []string

	down             bool          // every call fails with errStoreDown
	hang             bool          // every call waits for its context to end
	ignoreInvalidate bool          // Invalidate succeeds but drops nothing
	saved            chan struct{} // receives after each Save, if not nil
}

func (s *memoryTokenStore) fail(ctx context.Context) error {
	s.mu.Lock()
	down, hang := s.down, s.hang
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if down {
		return errStoreDown
	}
	return nil
}

func (s *memoryTokenStore) Load(ctx context.Context) (livehub.SharedToken, bool, error) {
	if err := s.fail(ctx); err != nil {
		return livehub.SharedToken{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == nil {
		return livehub.SharedToken{}, false, nil
	}
	return *s.token, true, nil
}

func (s *memoryTokenStore) Save(ctx context.Context, t livehub.SharedToken) error {
	if err := s.fail(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.token = &t
	saved := s.saved
	s.mu.Unlock()
	if saved != nil {
		saved <- struct{}{}
	}
	return nil
}

func (s *memoryTokenStore) Invalidate(ctx context.Context, token string) error {
	if err := s.fail(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, token)
	if !s.ignoreInvalidate && s.token != nil && s.token.Value == token {
		s.token = nil
	}
	return nil
}

func (s *memoryTokenStore) Lock(ctx context.Context, lease time.Duration) (func(), bool, error) {
	if err := s.fail(ctx); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockOwner != 0 && time.Now().Before(s.lockUntil) {
		return nil, false, nil
	}
	s.owners++
	owner := s.owners
	s.lockOwner, s.lockUntil = owner, time.Now().Add(lease)
	unlock := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lockOwner == owner {
			s.lockOwner = 0
		}
	}
	return unlock, true, nil
}

func (s *memoryTokenStore) shared() (livehub.SharedToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == nil {
		return livehub.SharedToken{}, false
	}
	return *s.token, true
}

// storeLog collects TokenStore events.
type storeLog struct {
	mu     sync.Mutex
	events []livehub.TokenStoreEvent
}

func (l *storeLog) observer() *livehub.Observer {
	return &livehub.Observer{TokenStore: func(_ context.Context, e livehub.TokenStoreEvent) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, e)
	}}
}

// count returns how many events for op had an error, and how many had none.
func (l *storeLog) count(op string) (failed, succeeded int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		switch {
		case e.Op != op:
		case e.Err != nil:
			failed++
		default:
			succeeded++
		}
	}
	return failed, succeeded
}

// replica returns a Client of f that shares tokens through store, and waits
// for its token requests when the test ends.
func replica(t *testing.T, f *fakeLiveHub, store livehub.TokenStore) (*livehub.Client, *storeLog) {
	t.Helper()
	c := f.client()
	c.TokenStore = store
	log := &storeLog{}
	c.Observer = log.observer()
	t.Cleanup(func() { livehub.WaitForTokenFetch(c) })
	return c, log
}

func mustGenerate(t *testing.T, c *livehub.Client, step string) {
	t.Helper()
	if _, err := c.GenerateAuthenticationCode(t.Context(), "conn-1", ""); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

func TestTokenStoreShares(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{})
	store := &memoryTokenStore{}
	a, _ := replica(t, f, store)
	b, bLog := replica(t, f, store)

	mustGenerate(t, a, "replica a")
	shared, ok := store.shared()
	if !ok {
		t.Fatal("no token shared after replica a's token request")
	}
	if want := clock.Now().Add(900 * time.Second); !shared.Expiry.Equal(want) || shared.Lifetime != 900*time.Second {
		t.Errorf("got shared expiry %v and lifetime %v, want %v and 15m0s", shared.Expiry, shared.Lifetime, want)
	}
	if want := shared.Expiry.Add(-time.Minute); !shared.UsableUntil().Equal(want) {
		t.Errorf("got UsableUntil %v, want %v", shared.UsableUntil(), want)
	}

	mustGenerate(t, b, "replica b")
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
	if got := f.lastBearer(); got != shared.Value {
		t.Errorf("replica b sent token %q, want the shared %q", got, shared.Value)
	}
	if _, loaded := bLog.count(livehub.StoreLoad); loaded != 1 {
		t.Errorf("got %d shared tokens reported taken, want 1", loaded)
	}
}

// TestTokenStoreWaitsForHolder checks that a Client waits while another
// holds the lock, and uses the token that the holder shares.
func TestTokenStoreWaitsForHolder(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{})
	store := &memoryTokenStore{}
	unlock, ok, _ := store.Lock(t.Context(), time.Hour)
	if !ok {
		t.Fatal("Lock: not taken")
	}
	b, _ := replica(t, f, store)

	// A Client without the store plays the holder that requests a token.
	holder := f.client()
	mustGenerate(t, holder, "holder")
	token := livehub.SharedToken{Value: f.lastBearer(), Expiry: clock.Now().Add(900 * time.Second), Lifetime: 900 * time.Second}
	go func() {
		time.Sleep(150 * time.Millisecond)
		store.Save(context.Background(), token)
		unlock()
	}()

	start := time.Now()
	mustGenerate(t, b, "waiting replica")
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Errorf("waiting replica returned after %v, before the token was shared", elapsed)
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want only the holder's", got)
	}
	if got := f.lastBearer(); got != token.Value {
		t.Errorf("waiting replica sent %q, want the shared %q", got, token.Value)
	}
}

// TestTokenStoreLeaseLapses checks that a Client requests its own token when
// the holder of the lock shares none within the lease.
func TestTokenStoreLeaseLapses(t *testing.T) {
	verifyNoLeaks(t)
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	store := &memoryTokenStore{}
	if _, ok, _ := store.Lock(t.Context(), time.Hour); !ok {
		t.Fatal("Lock: not taken")
	}
	b, _ := replica(t, f, store)
	b.Timeout = 200 * time.Millisecond // a lease of 1.2 s

	start := time.Now()
	mustGenerate(t, b, "replica")
	if elapsed := time.Since(start); elapsed < 1200*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("got the code after %v, want it after the lease of 1.2 s", elapsed)
	}
	if got := f.tokenCount(); got != 1 {
		t.Errorf("got %d token requests, want 1", got)
	}
	if _, ok := store.shared(); !ok {
		t.Error("the token requested after the lease was not shared")
	}
}

// TestTokenStoreRevoked checks that a 401 removes the shared token only
// while it is still the rejected one.
func TestTokenStoreRevoked(t *testing.T) {
	verifyNoLeaks(t)
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	store := &memoryTokenStore{}
	a, _ := replica(t, f, store)
	b, _ := replica(t, f, store)
	mustGenerate(t, a, "replica a")
	mustGenerate(t, b, "replica b")
	first, _ := store.shared()

	f.revokeTokens()
	mustGenerate(t, a, "replica a after the revocation")
	second, _ := store.shared()
	if second.Value == first.Value {
		t.Fatal("the rejected token is still shared")
	}

	// Replica b still holds the first token, and its 401 must not remove
	// the second.
	mustGenerate(t, b, "replica b after the revocation")
	if got, _ := store.shared(); got.Value != second.Value {
		t.Errorf("got shared token %q, want %q", got.Value, second.Value)
	}
	if got := f.lastBearer(); got != second.Value {
		t.Errorf("replica b sent %q, want the second shared token %q", got, second.Value)
	}
	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
	if got := store.invalidated; len(got) != 2 || got[0] != first.Value || got[1] != first.Value {
		t.Errorf("got Invalidate calls for %q, want two for the first token", got)
	}
}

// TestTokenStoreRejectedNotReused checks that a Client never takes a token
// from the store that Live Hub rejected, even when the store keeps it.
func TestTokenStoreRejectedNotReused(t *testing.T) {
	verifyNoLeaks(t)
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	store := &memoryTokenStore{ignoreInvalidate: true}
	a, _ := replica(t, f, store)
	mustGenerate(t, a, "first call")
	first := f.lastBearer()

	f.revokeTokens()
	mustGenerate(t, a, "after the revocation")
	if got := f.lastBearer(); got == first {
		t.Error("the rejected token was used again")
	}
	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
}

func TestTokenStoreInvalidateToken(t *testing.T) {
	verifyNoLeaks(t)
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	store := &memoryTokenStore{}
	a, _ := replica(t, f, store)
	mustGenerate(t, a, "first call")

	a.InvalidateToken()
	mustGenerate(t, a, "after InvalidateToken")
	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2: the shared token was taken again", got)
	}
}

// TestTokenStoreBackgroundRefresh checks that the replicas refresh ahead of
// expiry with one token request: the first replica's, which the others take
// from the store.
func TestTokenStoreBackgroundRefresh(t *testing.T) {
	verifyNoLeaks(t)
	clock := newFakeClock()
	f := newFakeLiveHub(t, clock, fakeOptions{})
	store := &memoryTokenStore{}
	a, _ := replica(t, f, store)
	b, bLog := replica(t, f, store)
	mustGenerate(t, a, "replica a")
	mustGenerate(t, b, "replica b")

	clock.Advance(700 * time.Second)
	mustGenerate(t, a, "replica a at 700 s")
	livehub.WaitForTokenFetch(a)
	mustGenerate(t, b, "replica b at 700 s")
	livehub.WaitForTokenFetch(b)
	if got := f.tokenCount(); got != 2 {
		t.Errorf("got %d token requests, want 2", got)
	}
	if _, loaded := bLog.count(livehub.StoreLoad); loaded != 2 {
		t.Errorf("replica b: got %d shared tokens taken, want 2", loaded)
	}

	// The first token expires at 900 s. The fake fails the test if it is
	// used then.
	clock.Advance(201 * time.Second)
	mustGenerate(t, a, "replica a at 901 s")
	mustGenerate(t, b, "replica b at 901 s")
	if got := f.tokenCount(); got != 2 {
		t.Errorf("at 901 s: got %d token requests, want 2", got)
	}
}

// TestTokenStoreFailures checks that each Client requests its own token
// when the store fails or hangs, and reports the failures.
func TestTokenStoreFailures(t *testing.T) {
	tests := []struct {
		name  string
		store *memoryTokenStore
	}{
		{"down", &memoryTokenStore{down: true}},
		{"hanging", &memoryTokenStore{hang: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
			a, aLog := replica(t, f, tt.store)
			b, bLog := replica(t, f, tt.store)
			a.Timeout, b.Timeout = 300*time.Millisecond, 300*time.Millisecond

			mustGenerate(t, a, "replica a")
			mustGenerate(t, b, "replica b")
			if got := f.tokenCount(); got != 2 {
				t.Errorf("got %d token requests, want one per replica", got)
			}
			for name, log := range map[string]*storeLog{"a": aLog, "b": bLog} {
				if failed, _ := log.count(livehub.StoreLoad); failed != 1 {
					t.Errorf("replica %s: got %d failed loads reported, want 1", name, failed)
				}
				// After a failed load, the replica leaves the store alone.
				for _, op := range []string{livehub.StoreLock, livehub.StoreSave} {
					if failed, _ := log.count(op); failed != 0 {
						t.Errorf("replica %s: got %d failed %s calls, want none", name, failed, op)
					}
				}
			}

			// A 401 tries to remove the token from the store, and the
			// replica recovers without it.
			f.revokeTokens()
			mustGenerate(t, a, "replica a after the revocation")
			if failed, _ := aLog.count(livehub.StoreInvalidate); failed != 1 {
				t.Errorf("got %d failed invalidations reported, want 1", failed)
			}
		})
	}
}

// TestTokenStoreRecovers checks that a Client uses the store again once it
// works.
func TestTokenStoreRecovers(t *testing.T) {
	verifyNoLeaks(t)
	f := newFakeLiveHub(t, newFakeClock(), fakeOptions{})
	store := &memoryTokenStore{down: true}
	a, _ := replica(t, f, store)
	mustGenerate(t, a, "store down")

	store.mu.Lock()
	store.down = false
	store.mu.Unlock()
	a.InvalidateToken()
	mustGenerate(t, a, "store up")
	if _, ok := store.shared(); !ok {
		t.Error("no token shared once the store is up again")
	}
}
