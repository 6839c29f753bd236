package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/c2cauth/c2cauth/clientip"
	"github.com/c2cauth/c2cauth/identity"
)

// ErrLimited marks a request over a limit. Errors of type *Exceeded wrap it.
var ErrLimited = errors.New("rate limited")

// Exceeded is the error for a request over a limit.
type Exceeded struct {
	// Limit names the limit that was reached: "user", "ip" or "global".
	Limit string

	// RetryAfter is the time until that limit allows another request.
	RetryAfter time.Duration
}

// Error returns a message naming the limit and the wait.
func (e *Exceeded) Error() string {
	return fmt.Sprintf("%s rate limit reached, retry after %s", e.Limit, e.RetryAfter)
}

// Unwrap returns ErrLimited, so that errors.Is(err, ErrLimited) holds.
func (e *Exceeded) Unwrap() error { return ErrLimited }

// maxUserKeyLength caps the user ID part of a key. A longer ID is replaced
// by its SHA-256 hash, so that long IDs cannot inflate the store.
const maxUserKeyLength = 128

// ipv6PrefixLength is the prefix length by which IPv6 clients are counted.
// An internet subscriber usually holds a whole /64, and counting each of
// its addresses apart would give one visitor 2^64 separate limits.
const ipv6PrefixLength = 64

// Limiter applies a per-user, a per-client-IP and a global limit to each
// request, counting in Store. It is safe for concurrent use when Store is,
// and its fields must not change while it is in use.
//
// The limits are checked in that order, and the first that rejects the
// request decides. A request counts against every limit that was checked,
// including when a later one rejects it, so that each limit counts
// attempts and retrying against a full global limit is not free.
type Limiter struct {
	// Store keeps the counts. It is required whenever a limit is enabled.
	Store Store

	// PerUser limits each signed-in user, and anonymous visitors skip it.
	// PerIP limits each client address, with IPv6 clients grouped by
	// their /64, since one subscriber usually holds a whole /64. Global
	// limits all requests together. The zero Rate turns a limit off.
	PerUser, PerIP, Global Rate

	// ClientIP returns the client address of a request. The ClientIP
	// method of a *clientip.Resolver fits, and reads X-Forwarded-For from
	// trusted proxies. Nil means the peer address, r.RemoteAddr. Requests
	// without a valid client address share one per-IP count.
	ClientIP func(*http.Request) netip.Addr

	// KeyPrefix is put before every key, such as "c2cauth:", to keep the
	// keys apart from other users of a shared store.
	KeyPrefix string
}

// Allow counts r against the limits. It returns nil to let the request
// through, and an *Exceeded when a limit is reached. When the store fails,
// it returns another error, which does not wrap ErrLimited, and the caller
// must reject the request too.
func (l *Limiter) Allow(ctx context.Context, r *http.Request, id identity.Identity) error {
	if l.PerUser.Enabled() && !id.Anonymous() {
		if err := l.check(ctx, "user", userKey(id.UserID), l.PerUser); err != nil {
			return err
		}
	}
	if l.PerIP.Enabled() {
		if err := l.check(ctx, "ip", ipKey(l.clientIP(r)), l.PerIP); err != nil {
			return err
		}
	}
	if l.Global.Enabled() {
		if err := l.check(ctx, "global", "global", l.Global); err != nil {
			return err
		}
	}
	return nil
}

// check counts one event against the limit called name. Errors name the
// limit but never the key, which may hold a long or personal user ID.
func (l *Limiter) check(ctx context.Context, name, key string, rate Rate) error {
	if l.Store == nil {
		return fmt.Errorf("ratelimit: %s limit: no store configured", name)
	}
	result, err := l.Store.Allow(ctx, l.KeyPrefix+key, rate)
	if err != nil {
		return fmt.Errorf("ratelimit: %s limit could not be checked: %w", name, err)
	}
	if !result.Allowed {
		return &Exceeded{Limit: name, RetryAfter: result.RetryAfter}
	}
	return nil
}

// clientIP returns the client address of r.
func (l *Limiter) clientIP(r *http.Request) netip.Addr {
	if l.ClientIP != nil {
		return l.ClientIP(r)
	}
	return clientip.Peer(r)
}

// userKey returns the store key for a user ID.
func userKey(userID string) string {
	if len(userID) > maxUserKeyLength {
		sum := sha256.Sum256([]byte(userID))
		return "user-sha256:" + hex.EncodeToString(sum[:])
	}
	return "user:" + userID
}

// ipKey returns the store key for a client address: the address for IPv4,
// its /64 for IPv6, and one shared key for an invalid address.
func ipKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	switch {
	case !addr.IsValid():
		return "ip:unknown"
	case addr.Is6():
		return "ip:" + netip.PrefixFrom(addr, ipv6PrefixLength).Masked().String()
	default:
		return "ip:" + addr.String()
	}
}
