package jwtauth

import (
	"strconv"
	"testing"
	"time"

	"github.com/c2cauth/c2cauth/identity"
)

func TestVerifiedCache(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	alice := identity.Identity{UserID: "alice"}
	tests := []struct {
		name       string
		expiry     time.Time
		at         time.Time
		generation uint64
		want       bool
	}{
		{"fresh", now.Add(time.Hour), now.Add(time.Second), 1, true},
		{"after the TTL", now.Add(time.Hour), now.Add(verifiedTTL), 1, false},
		{"after expiry", now.Add(10 * time.Second), now.Add(10 * time.Second), 1, false},
		{"before expiry", now.Add(10 * time.Second), now.Add(9 * time.Second), 1, true},
		{"new key set", now.Add(time.Hour), now.Add(time.Second), 2, false},
		{"no expiry", time.Time{}, now.Add(time.Second), 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newVerifiedCache()
			c.put("token", alice, tt.expiry, now, 1)
			id, ok := c.get("token", tt.at, tt.generation)
			if ok != tt.want {
				t.Fatalf("got cached %t, want %t", ok, tt.want)
			}
			if ok && id != alice {
				t.Errorf("got identity %+v, want %+v", id, alice)
			}
			if _, ok := c.get("other-token", now, 1); ok {
				t.Error("an unknown token was found in the cache")
			}
		})
	}
}

func TestVerifiedCacheBounded(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newVerifiedCache()
	for i := range maxVerified + 500 {
		c.put("token-"+strconv.Itoa(i), identity.Identity{UserID: "u"}, time.Time{}, now, 1)
	}
	if got := len(c.entries); got > maxVerified {
		t.Errorf("cache holds %d entries, want at most %d", got, maxVerified)
	}
	if _, ok := c.get("token-"+strconv.Itoa(maxVerified+499), now, 1); !ok {
		t.Error("the newest token is not cached")
	}
}
