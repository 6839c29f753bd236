package jwtauth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/c2cauth/c2cauth/identity"
)

// Limits of the cache of verified tokens. A visitor's page sends the same
// token for every call, and checking an ES256 signature costs about 80 µs
// of CPU, most of what a code request costs c2cauth (docs/benchmarks.md).
const (
	// verifiedTTL bounds how long a verified token is trusted without
	// checking its signature again, whatever its expiry.
	verifiedTTL = time.Minute

	// maxVerified bounds the cache, about 100 bytes an entry.
	maxVerified = 10_000
)

// verifiedCache remembers tokens whose signature and claims were verified,
// by the SHA-256 of the token, so the token itself is not kept. An entry
// ends at the token's expiry or after verifiedTTL, whichever comes first,
// and when the key set changes. Failures are never cached. It is safe for
// concurrent use.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	id         identity.Identity
	until      time.Time
	generation uint64 // of the key set that verified the token
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{entries: make(map[[sha256.Size]byte]verifiedEntry)}
}

// get returns the identity of a token verified under the current key set
// generation and still within its time.
func (c *verifiedCache) get(raw string, now time.Time, generation uint64) (identity.Identity, bool) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.generation != generation || !now.Before(e.until) {
		return identity.Identity{}, false
	}
	return e.id, true
}

// put remembers a verified token until the earlier of expiry and now plus
// verifiedTTL. A full cache first drops its ended entries, and empties
// itself when none had ended, which costs only fresh signature checks.
func (c *verifiedCache) put(raw string, id identity.Identity, expiry, now time.Time, generation uint64) {
	until := now.Add(verifiedTTL)
	if !expiry.IsZero() && expiry.Before(until) {
		until = expiry
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerified {
		for k, e := range c.entries {
			if e.generation != generation || !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxVerified {
			clear(c.entries)
		}
	}
	c.entries[key] = verifiedEntry{id: id, until: until, generation: generation}
}
