package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/clientip"
	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/ratelimit"
)

var (
	alice     = identity.Identity{UserID: "alice"}
	bob       = identity.Identity{UserID: "bob"}
	anonymous = identity.Identity{}
)

// newRequest returns a request from peer with the given X-Forwarded-For
// header, if any.
func newRequest(peer, forwardedFor string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/auth-code", nil)
	r.RemoteAddr = peer
	if forwardedFor != "" {
		r.Header.Set("X-Forwarded-For", forwardedFor)
	}
	return r
}

// recordingStore records the keys it is asked about and passes the calls
// to a Memory store, or fails them with err when err is set.
type recordingStore struct {
	next ratelimit.Store
	err  error

	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Allow(ctx context.Context, key string, rate ratelimit.Rate) (ratelimit.Result, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	if s.err != nil {
		return ratelimit.Result{}, s.err
	}
	return s.next.Allow(ctx, key, rate)
}

func (s *recordingStore) takeKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.keys
	s.keys = nil
	return keys
}

// wantAllowed fails the test unless err is nil.
func wantAllowed(t *testing.T, err error, step string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: got %v, want allowed", step, err)
	}
}

// wantExceeded fails the test unless err is an *Exceeded for limit.
func wantExceeded(t *testing.T, err error, limit, step string) *ratelimit.Exceeded {
	t.Helper()
	exceeded, ok := errors.AsType[*ratelimit.Exceeded](err)
	if !ok {
		t.Fatalf("%s: got %v, want the %s limit exceeded", step, err, limit)
	}
	if exceeded.Limit != limit {
		t.Errorf("%s: got the %s limit exceeded, want %s", step, exceeded.Limit, limit)
	}
	if !errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("%s: errors.Is(%v, ErrLimited) is false, want true", step, err)
	}
	if exceeded.RetryAfter <= 0 {
		t.Errorf("%s: got RetryAfter %v, want more than 0", step, exceeded.RetryAfter)
	}
	return exceeded
}

func TestLimiterPerUser(t *testing.T) {
	clock := newFakeClock()
	l := &ratelimit.Limiter{
		Store:   ratelimit.NewMemory(ratelimit.MemoryOptions{Now: clock.Now}),
		PerUser: ratelimit.Rate{Limit: 2, Period: time.Minute},
	}
	ctx := context.Background()
	// Different addresses do not help a user past the limit.
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), alice), "alice 1")
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.2:1000", ""), alice), "alice 2")
	exceeded := wantExceeded(t, l.Allow(ctx, newRequest("192.0.2.3:1000", ""), alice), "user", "alice 3")
	if want := 30 * time.Second; exceeded.RetryAfter != want {
		t.Errorf("got RetryAfter %v, want %v", exceeded.RetryAfter, want)
	}
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), bob), "bob")

	clock.Advance(30 * time.Second)
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), alice), "alice after 30s")
}

func TestLimiterAnonymousSkipsUserLimit(t *testing.T) {
	l := &ratelimit.Limiter{
		Store:   ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now}),
		PerUser: ratelimit.Rate{Limit: 1, Period: time.Hour},
	}
	for range 5 {
		wantAllowed(t, l.Allow(context.Background(), newRequest("192.0.2.1:1000", ""), anonymous), "anonymous")
	}
}

func TestLimiterPerIPForwarded(t *testing.T) {
	resolver, err := clientip.New([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	l := &ratelimit.Limiter{
		Store:    ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now}),
		PerIP:    ratelimit.Rate{Limit: 2, Period: time.Minute},
		ClientIP: resolver.ClientIP,
	}
	ctx := context.Background()
	proxy := "10.0.0.1:40000"

	wantAllowed(t, l.Allow(ctx, newRequest(proxy, "203.0.113.1"), anonymous), "client 1")
	wantAllowed(t, l.Allow(ctx, newRequest(proxy, "203.0.113.1, 10.0.0.2"), alice), "client 1 via two proxies")
	wantExceeded(t, l.Allow(ctx, newRequest(proxy, "203.0.113.1"), bob), "ip", "client 1 again")
	// A visitor who prepends a made-up address is still counted by the
	// address the proxy saw.
	wantExceeded(t, l.Allow(ctx, newRequest(proxy, "198.51.100.99, 203.0.113.1"), anonymous), "ip", "client 1 spoofing")

	wantAllowed(t, l.Allow(ctx, newRequest(proxy, "203.0.113.2"), anonymous), "client 2")
	// The proxy's own requests are counted by the proxy's address.
	wantAllowed(t, l.Allow(ctx, newRequest(proxy, ""), anonymous), "proxy itself")
}

func TestLimiterPerIPPeer(t *testing.T) {
	l := &ratelimit.Limiter{
		Store: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now}),
		PerIP: ratelimit.Rate{Limit: 1, Period: time.Minute},
	}
	ctx := context.Background()
	// Without a ClientIP function, X-Forwarded-For is never read.
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", "203.0.113.1"), anonymous), "first")
	wantExceeded(t, l.Allow(ctx, newRequest("192.0.2.1:1001", "203.0.113.2"), anonymous), "ip", "second")
}

func TestLimiterIPKeys(t *testing.T) {
	tests := []struct {
		name string
		peer string
		want string
	}{
		{"ipv4", "192.0.2.1:1000", "ip:192.0.2.1"},
		{"ipv4 mapped", "[::ffff:192.0.2.1]:1000", "ip:192.0.2.1"},
		{"ipv6", "[2001:db8:1:2::1]:443", "ip:2001:db8:1:2::/64"},
		{"ipv6 same /64", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", "ip:2001:db8:1:2::/64"},
		{"ipv6 next /64", "[2001:db8:1:3::1]:443", "ip:2001:db8:1:3::/64"},
		{"ipv6 zone", "[fe80::1%eth0]:443", "ip:fe80::/64"},
		{"no address", "@", "ip:unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &recordingStore{next: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
			l := &ratelimit.Limiter{Store: store, PerIP: ratelimit.Rate{Limit: 1, Period: time.Minute}, KeyPrefix: "c2cauth:"}
			wantAllowed(t, l.Allow(context.Background(), newRequest(tt.peer, ""), anonymous), tt.peer)
			if got, want := store.takeKeys(), []string{"c2cauth:" + tt.want}; !slices.Equal(got, want) {
				t.Errorf("got keys %q, want %q", got, want)
			}
		})
	}
}

func TestLimiterIPv6Grouping(t *testing.T) {
	l := &ratelimit.Limiter{
		Store: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now}),
		PerIP: ratelimit.Rate{Limit: 2, Period: time.Minute},
	}
	ctx := context.Background()
	wantAllowed(t, l.Allow(ctx, newRequest("[2001:db8:1:2::1]:443", ""), anonymous), "first address")
	wantAllowed(t, l.Allow(ctx, newRequest("[2001:db8:1:2::2]:443", ""), anonymous), "second address")
	wantExceeded(t, l.Allow(ctx, newRequest("[2001:db8:1:2:abcd::3]:443", ""), anonymous), "ip", "third address")
	wantAllowed(t, l.Allow(ctx, newRequest("[2001:db8:1:3::1]:443", ""), anonymous), "next /64")
}

func TestLimiterGlobal(t *testing.T) {
	l := &ratelimit.Limiter{
		Store:  ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now}),
		Global: ratelimit.Rate{Limit: 3, Period: time.Minute},
	}
	ctx := context.Background()
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), alice), "alice")
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.2:1000", ""), bob), "bob")
	wantAllowed(t, l.Allow(ctx, newRequest("[2001:db8::1]:1000", ""), anonymous), "anonymous")
	wantExceeded(t, l.Allow(ctx, newRequest("192.0.2.4:1000", ""), identity.Identity{UserID: "carol"}), "global", "carol")
}

func TestLimiterOrder(t *testing.T) {
	store := &recordingStore{next: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now})}
	l := &ratelimit.Limiter{
		Store:     store,
		PerUser:   ratelimit.Rate{Limit: 1, Period: time.Minute},
		PerIP:     ratelimit.Rate{Limit: 2, Period: time.Minute},
		Global:    ratelimit.Rate{Limit: 3, Period: time.Minute},
		KeyPrefix: "p:",
	}
	ctx := context.Background()
	tests := []struct {
		name     string
		peer     string
		id       identity.Identity
		limit    string // the limit that rejects, or "" to allow
		wantKeys []string
	}{
		{"alice allowed", "192.0.2.1:1", alice, "", []string{"p:user:alice", "p:ip:192.0.2.1", "p:global"}},
		{"alice over user", "192.0.2.9:1", alice, "user", []string{"p:user:alice"}},
		{"anonymous allowed", "192.0.2.1:1", anonymous, "", []string{"p:ip:192.0.2.1", "p:global"}},
		{"bob over ip", "192.0.2.1:1", bob, "ip", []string{"p:user:bob", "p:ip:192.0.2.1"}},
		{"anonymous allowed again", "192.0.2.2:1", anonymous, "", []string{"p:ip:192.0.2.2", "p:global"}},
		{"carol over global", "192.0.2.3:1", identity.Identity{UserID: "carol"}, "global", []string{"p:user:carol", "p:ip:192.0.2.3", "p:global"}},
	}
	for _, tt := range tests {
		err := l.Allow(ctx, newRequest(tt.peer, ""), tt.id)
		if tt.limit == "" {
			wantAllowed(t, err, tt.name)
		} else {
			wantExceeded(t, err, tt.limit, tt.name)
		}
		if got := store.takeKeys(); !slices.Equal(got, tt.wantKeys) {
			t.Errorf("%s: got keys %q, want %q", tt.name, got, tt.wantKeys)
		}
	}
}

func TestLimiterStoreError(t *testing.T) {
	storeErr := errors.New("connection refused")
	longID := strings.Repeat("u", 500)
	l := &ratelimit.Limiter{
		Store:   &recordingStore{err: storeErr},
		PerUser: ratelimit.Rate{Limit: 5, Period: time.Minute},
		PerIP:   ratelimit.Rate{Limit: 5, Period: time.Minute},
	}
	err := l.Allow(context.Background(), newRequest("192.0.2.1:1000", ""), identity.Identity{UserID: longID})
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	if errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("errors.Is(%v, ErrLimited) is true, want false", err)
	}
	if !errors.Is(err, storeErr) {
		t.Errorf("errors.Is(%v, store error) is false, want true", err)
	}
	if !strings.Contains(err.Error(), "user limit") {
		t.Errorf("error %q does not name the user limit", err)
	}
	if strings.Contains(err.Error(), "uuuu") {
		t.Errorf("error %q contains the user ID", err)
	}
}

func TestLimiterFullStore(t *testing.T) {
	l := &ratelimit.Limiter{
		Store: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now, MaxKeys: 1}),
		PerIP: ratelimit.Rate{Limit: 5, Period: time.Minute},
	}
	ctx := context.Background()
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), anonymous), "first client")
	err := l.Allow(ctx, newRequest("192.0.2.2:1000", ""), anonymous)
	if err == nil || errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("second client: got %v, want an error other than ErrLimited", err)
	}
	if !errors.Is(err, ratelimit.ErrMemoryFull) {
		t.Errorf("second client: errors.Is(%v, ErrMemoryFull) is false, want true", err)
	}
}

func TestLimiterNoStore(t *testing.T) {
	l := &ratelimit.Limiter{Global: ratelimit.Rate{Limit: 5, Period: time.Minute}}
	err := l.Allow(context.Background(), newRequest("192.0.2.1:1000", ""), anonymous)
	if err == nil || errors.Is(err, ratelimit.ErrLimited) {
		t.Errorf("got %v, want an error other than ErrLimited", err)
	}
}

func TestLimiterAllOff(t *testing.T) {
	var l ratelimit.Limiter
	for range 3 {
		wantAllowed(t, l.Allow(context.Background(), newRequest("192.0.2.1:1000", ""), alice), "no limits")
	}
}

func TestLimiterLongUserID(t *testing.T) {
	store := &recordingStore{next: ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now})}
	l := &ratelimit.Limiter{Store: store, PerUser: ratelimit.Rate{Limit: 1, Period: time.Minute}}
	ctx := context.Background()
	long1 := strings.Repeat("a", 1000)
	long2 := strings.Repeat("a", 999) + "b"

	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), identity.Identity{UserID: long1}), "first long ID")
	wantAllowed(t, l.Allow(ctx, newRequest("192.0.2.1:1000", ""), identity.Identity{UserID: long2}), "second long ID")
	err := l.Allow(ctx, newRequest("192.0.2.1:1000", ""), identity.Identity{UserID: long1})
	wantExceeded(t, err, "user", "first long ID again")
	if strings.Contains(err.Error(), "aaaa") {
		t.Errorf("error %q contains the user ID", err)
	}
	for _, key := range store.takeKeys() {
		if len(key) > 100 {
			t.Errorf("got key of %d bytes, want a hashed key", len(key))
		}
	}
}

func TestExceededError(t *testing.T) {
	var err error = &ratelimit.Exceeded{Limit: "ip", RetryAfter: 12 * time.Second}
	if got, want := err.Error(), "ip rate limit reached, retry after 12s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, ratelimit.ErrLimited) {
		t.Error("errors.Is(err, ErrLimited) is false, want true")
	}
}

// TestLimiterServer puts a Limiter behind a real listener with a trusted
// proxy in front, as the auth-code endpoint uses it.
func TestLimiterServer(t *testing.T) {
	resolver, err := clientip.New([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	l := &ratelimit.Limiter{
		Store:    ratelimit.NewMemory(ratelimit.MemoryOptions{Now: newFakeClock().Now}),
		PerIP:    ratelimit.Rate{Limit: 2, Period: time.Minute},
		ClientIP: resolver.ClientIP,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := l.Allow(r.Context(), r, anonymous); err != nil {
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	post := func(forwardedFor string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, tt := range []struct {
		forwardedFor string
		want         int
	}{
		{"203.0.113.1", http.StatusNoContent},
		{"203.0.113.1", http.StatusNoContent},
		{"203.0.113.1", http.StatusTooManyRequests},
		{"10.0.0.1, 203.0.113.1", http.StatusTooManyRequests},
		{"203.0.113.2", http.StatusNoContent},
	} {
		if got := post(tt.forwardedFor); got != tt.want {
			t.Errorf("request %d from %q: got status %d, want %d", i+1, tt.forwardedFor, got, tt.want)
		}
	}
}
