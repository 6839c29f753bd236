// Package redistoken is a livehub.TokenStore in Redis, so that the replicas
// of a program share one Live Hub access token.
//
// The store uses two keys. KeyPrefix+"livehub:token" holds the shared token
// as JSON, {"value": ..., "expiry": ..., "lifetime": ...}, and expires when
// Clients stop using the token. KeyPrefix+"livehub:token-lock" holds a random
// value that names the replica requesting a token, and expires after the
// lease of the lock.
//
// The token is stored as it is, and anyone who reads it can request codes
// until it expires. So the Redis deployment must be private: reachable only
// by the replicas, with authentication, and over TLS (rediss://) across any
// network that others share. The client secret is never stored.
package redistoken

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/c2cauth/c2cauth/livehub"
)

// Key names, after Options.KeyPrefix.
const (
	TokenKey = "livehub:token"
	LockKey  = "livehub:token-lock"
)

// invalidateScript deletes the token key if it still holds the token in
// ARGV[1]. A record that does not decode is deleted too, since no Client
// can use it.
var invalidateScript = redis.NewScript(`
local record = redis.call('GET', KEYS[1])
if not record then
  return 0
end
local ok, decoded = pcall(cjson.decode, record)
if ok and type(decoded) == 'table' and decoded.value ~= ARGV[1] then
  return 0
end
return redis.call('DEL', KEYS[1])
`)

// unlockScript deletes the lock key if it still holds the owner value in
// ARGV[1], so that a holder whose lease lapsed cannot release the lock of
// the next holder.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// KeyPrefix is put before the key names, such as "c2cauth:", to keep
	// them apart from other users of the same Redis database. Programs that
	// share a token must use the same prefix, and those that use different
	// Live Hub credentials must use different ones.
	KeyPrefix string

	// Now returns the current time; nil means time.Now. The store turns a
	// token's usable-until time into a time to live with it, so it must be
	// the clock of livehub.Client.Now.
	Now func() time.Time
}

// Store is a livehub.TokenStore in Redis. It is safe for concurrent use, also
// by many processes that share one Redis. Its errors never contain a token.
type Store struct {
	client   redis.UniversalClient
	tokenKey string
	lockKey  string
	now      func() time.Time
}

// New returns a Store that keeps the shared token in Redis through client.
// The caller keeps ownership of client and closes it.
func New(client redis.UniversalClient, opts Options) *Store {
	s := &Store{
		client:   client,
		tokenKey: opts.KeyPrefix + TokenKey,
		lockKey:  opts.KeyPrefix + LockKey,
		now:      opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// record is the JSON form of a shared token.
type record struct {
	Value    string    `json:"value"`
	Expiry   time.Time `json:"expiry"`
	Lifetime string    `json:"lifetime"` // a Go duration, such as "15m0s"
}

// Load returns the shared token, and false when there is none.
func (s *Store) Load(ctx context.Context) (livehub.SharedToken, bool, error) {
	data, err := s.client.Get(ctx, s.tokenKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return livehub.SharedToken{}, false, nil
	}
	if err != nil {
		return livehub.SharedToken{}, false, fmt.Errorf("redistoken: load token: %w", err)
	}

	var r record
	// The JSON error is left out, because it may quote the token.
	if json.Unmarshal(data, &r) != nil {
		return livehub.SharedToken{}, false, fmt.Errorf("redistoken: key %q does not hold a valid token record", s.tokenKey)
	}
	lifetime, err := time.ParseDuration(r.Lifetime)
	if err != nil || r.Value == "" || lifetime <= 0 {
		return livehub.SharedToken{}, false, fmt.Errorf("redistoken: key %q does not hold a valid token record", s.tokenKey)
	}
	return livehub.SharedToken{Value: r.Value, Expiry: r.Expiry, Lifetime: lifetime}, true, nil
}

// Save shares t in place of any shared token, until t.UsableUntil(). It
// stores nothing, and returns nil, when that time has passed by Now.
//
// The time to live is computed from Now rather than set as an absolute time
// (PEXPIREAT), so that Redis's clock need not agree with the replicas'.
func (s *Store) Save(ctx context.Context, t livehub.SharedToken) error {
	if t.Value == "" || t.Lifetime <= 0 {
		return errors.New("redistoken: save token: empty value or lifetime not positive")
	}
	ttl := t.UsableUntil().Sub(s.now())
	if ttl < time.Millisecond {
		return nil
	}

	data, err := json.Marshal(record{Value: t.Value, Expiry: t.Expiry, Lifetime: t.Lifetime.String()})
	if err != nil {
		return fmt.Errorf("redistoken: encode token record: %w", err)
	}
	if err := s.client.Set(ctx, s.tokenKey, data, ttl).Err(); err != nil {
		return fmt.Errorf("redistoken: save token: %w", err)
	}
	return nil
}

// Invalidate deletes the shared token if its value is token, in one atomic
// step, and keeps any other.
func (s *Store) Invalidate(ctx context.Context, token string) error {
	if err := invalidateScript.Run(ctx, s.client, []string{s.tokenKey}, token).Err(); err != nil {
		return fmt.Errorf("redistoken: invalidate token: %w", err)
	}
	return nil
}

// Lock takes the lock for lease, rounded up to a whole millisecond, with SET
// NX PX and a random owner value. ok is false when another holder has it.
// unlock deletes the lock only while it still holds that owner value. It
// ignores errors, because the lock lapses after lease anyway, and it runs
// even after ctx is canceled.
func (s *Store) Lock(ctx context.Context, lease time.Duration) (unlock func(), ok bool, err error) {
	if lease <= 0 {
		return nil, false, fmt.Errorf("redistoken: lock lease %v is not positive", lease)
	}
	lease = (lease + time.Millisecond - 1).Truncate(time.Millisecond)
	owner := rand.Text()
	err = s.client.SetArgs(ctx, s.lockKey, owner, redis.SetArgs{Mode: "NX", TTL: lease}).Err()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redistoken: take lock: %w", err)
	}

	unlock = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		unlockScript.Run(ctx, s.client, []string{s.lockKey}, owner)
	}
	return unlock, true, nil
}
