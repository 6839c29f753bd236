package livehub

import (
	"context"
	"fmt"
	"time"
)

// TokenStore shares access tokens between Clients, typically the replicas of
// a program behind a load balancer, so that together they request about one
// token per token lifetime from Live Hub rather than one each. Client's
// documentation describes how a Client uses it. Implementations must be safe
// for concurrent use, also by many processes.
//
// A TokenStore keeps access tokens as they are, which let anyone who reads
// them request codes, so its storage must be as private as the client
// secret. The Client never passes it the client secret. Errors must not
// contain an access token, because Client.Observer reports them.
type TokenStore interface {
	// Load returns the shared token, and false when there is none.
	Load(ctx context.Context) (SharedToken, bool, error)

	// Save shares t in place of any shared token. The store should drop t
	// by t.UsableUntil(), after which no Client uses it.
	Save(ctx context.Context, t SharedToken) error

	// Invalidate drops the shared token if its value is token, and keeps
	// any other, which may be newer. The check and the removal must be one
	// atomic step.
	Invalidate(ctx context.Context, token string) error

	// Lock takes the lock that lets one Client request a token while the
	// others wait for it. It returns ok false, and no error, when another
	// holder has it. The lock lapses after lease unless unlock, which must
	// release only this holder's lock, releases it first.
	Lock(ctx context.Context, lease time.Duration) (unlock func(), ok bool, err error)
}

// SharedToken is an access token as a TokenStore keeps it.
type SharedToken struct {
	// Value is the access token.
	Value string

	// Expiry is when Live Hub stops accepting the token, by the Client.Now
	// of the Client that requested it.
	Expiry time.Time

	// Lifetime is the token's lifetime, from expires_in or
	// DefaultTokenLifetime. The Client that loads the token computes its
	// refresh times from it as it does for a token it requested.
	Lifetime time.Duration
}

// UsableUntil returns when Clients stop using t: Expiry less the refresh
// margin, which is a tenth of Lifetime and at most one minute.
func (t SharedToken) UsableUntil() time.Time {
	return t.Expiry.Add(-refreshMargin(t.Lifetime))
}

// Operations on a TokenStore, named in TokenStoreEvent.Op.
const (
	StoreLoad       = "load"
	StoreSave       = "save"
	StoreInvalidate = "invalidate"
	StoreLock       = "lock"
)

// tokenStorePoll is how often a Client that waits for another Client's token
// request looks for the token in the store, and how often, by Client.Now, a
// Client looks there during the pause after its own token request failed.
const tokenStorePoll = 50 * time.Millisecond

// tokenStoreTimeout bounds each call to a TokenStore, so that an
// unresponsive store delays a token request by little.
const tokenStoreTimeout = time.Second

// sharedToken obtains a token through c.TokenStore: a valid shared token if
// there is one, or else a token that this Client requests while it holds
// the store's lock, or that another Client shares meanwhile. It gives up on
// the store and requests a token itself when a store call fails, or when no
// token was shared within the lease of the lock's holder.
func (c *Client) sharedToken(ctx context.Context, background bool) (*accessToken, error) {
	lease := c.timeout() + time.Second
	giveUp := time.Now().Add(lease)
	for {
		token, err := c.loadShared(ctx, background)
		if err != nil {
			return c.requestToken(ctx, c.now(), background)
		}
		if token != nil {
			return token, nil
		}

		var unlock func()
		var locked bool
		err = c.callStore(ctx, StoreLock, background, func(ctx context.Context) (err error) {
			unlock, locked, err = c.TokenStore.Lock(ctx, lease)
			return err
		})
		if err != nil {
			return c.requestToken(ctx, c.now(), background)
		}
		if locked {
			token, err := c.requestLocked(ctx, background)
			if unlock != nil {
				unlock()
			}
			return token, err
		}

		if !time.Now().Before(giveUp) {
			break
		}
		time.Sleep(tokenStorePoll)
	}
	// The holder of the lock shared no token within a lease, so it may have
	// stopped, and other waiting Clients may be requesting a token too now.
	return c.requestAndShare(ctx, true, background)
}

// requestLocked obtains a token while this Client holds the store's lock.
func (c *Client) requestLocked(ctx context.Context, background bool) (*accessToken, error) {
	// Another Client may have shared a token and released the lock between
	// the last load and the lock.
	token, err := c.loadShared(ctx, background)
	if err == nil && token != nil {
		return token, nil
	}
	return c.requestAndShare(ctx, err == nil, background)
}

// loadShared returns the shared token if this Client may use it, or nil.
// A token is usable until its refresh time, and for a request ahead of time
// only until its own refresh-ahead time, because a token older than that is
// the one being replaced. The last token that Live Hub rejected, or that
// InvalidateToken dropped, is skipped.
func (c *Client) loadShared(ctx context.Context, background bool) (*accessToken, error) {
	var shared SharedToken
	var found bool
	err := c.callStore(ctx, StoreLoad, background, func(ctx context.Context) (err error) {
		shared, found, err = c.TokenStore.Load(ctx)
		return err
	})
	if err != nil || !found || shared.Value == "" || shared.Lifetime <= 0 {
		return nil, err
	}

	token := newAccessToken(shared.Value, shared.Expiry.Add(-shared.Lifetime), shared.Lifetime)
	c.mu.Lock()
	rejected := c.rejected
	c.mu.Unlock()
	now := c.now()
	if token.value == rejected || !now.Before(token.refresh) || background && !now.Before(token.refreshAhead) {
		return nil, nil
	}
	c.observeTokenStore(ctx, TokenStoreEvent{Op: StoreLoad, Background: background})
	return token, nil
}

// requestAndShare requests a token from Live Hub and, when share is true,
// saves it in the store.
func (c *Client) requestAndShare(ctx context.Context, share, background bool) (*accessToken, error) {
	token, err := c.requestToken(ctx, c.now(), background)
	if err != nil || !share {
		return token, err
	}
	shared := SharedToken{Value: token.value, Expiry: token.expiry, Lifetime: token.lifetime}
	c.callStore(ctx, StoreSave, background, func(ctx context.Context) error {
		return c.TokenStore.Save(ctx, shared)
	})
	return token, nil
}

// invalidateShared drops token from the store after Live Hub rejected it.
// It runs even when ctx is canceled, because other Clients would otherwise
// load the rejected token.
func (c *Client) invalidateShared(ctx context.Context, token string) {
	c.callStore(context.WithoutCancel(ctx), StoreInvalidate, false, func(ctx context.Context) error {
		return c.TokenStore.Invalidate(ctx, token)
	})
}

// callStore runs one call to the store within tokenStoreTimeout, and
// reports its error to the Observer.
func (c *Client) callStore(ctx context.Context, op string, background bool, call func(ctx context.Context) error) error {
	callCtx, cancel := context.WithTimeout(ctx, min(tokenStoreTimeout, c.timeout()))
	defer cancel()
	began := time.Now()
	err := call(callCtx)
	if err != nil {
		err = fmt.Errorf("livehub: token store %s failed: %w", op, err)
		c.observeTokenStore(ctx, TokenStoreEvent{Op: op, Err: err, Duration: time.Since(began), Background: background})
	}
	return err
}
