package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/ratelimit"
	"github.com/c2cauth/c2cauth/ratelimit/redisstore"
	"github.com/c2cauth/c2cauth/redistoken"
)

// Redis timeouts unless the URL sets its own. A limit check waits on Redis
// in every request, so a Redis that drops packets must fail fast rather
// than add seconds to each visitor's wait.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 500 * time.Millisecond
	redisPingTimeout = 2 * time.Second
)

// redisConfig holds the options for sharing state between replicas.
type redisConfig struct {
	url           string
	keyPrefix     string
	limitFailure  string
	parsedOptions *redis.Options
}

func (c *redisConfig) register(o *options) {
	o.stringVar(&c.url, "redis-url", "C2CAUTH_REDIS_URL", "", "`URL` of a Redis that replicas share for rate limits and the Live Hub access token: redis://[user:password@]host:port/db, rediss:// for TLS, or unix:///path; empty keeps both in this process")
	o.stringVar(&c.keyPrefix, "redis-key-prefix", "C2CAUTH_REDIS_KEY_PREFIX", "c2cauth:", "`prefix` of every Redis key c2cauth writes")
	o.stringVar(&c.limitFailure, "limit-redis-failure", "C2CAUTH_LIMIT_REDIS_FAILURE", "closed", "`policy` for rate limits while Redis is unreachable: closed (reject with 503), open (allow) or local (limit each replica in memory)")
}

// validate checks the Redis options and returns every problem.
func (c *redisConfig) validate(limits ...ratelimit.Rate) []error {
	var problems []error
	switch c.limitFailure {
	case "closed", "open", "local":
	default:
		problems = append(problems, fmt.Errorf("--limit-redis-failure %q is invalid; use closed, open or local", c.limitFailure))
	}
	if c.url == "" {
		return problems
	}
	opts, err := redis.ParseURL(c.url)
	if err != nil {
		// The parser's error quotes the URL, password included.
		return append(problems, errors.New("--redis-url is not a valid redis://, rediss:// or unix:// URL"))
	}
	query := queryOf(c.url)
	if !query.Has("dial_timeout") {
		opts.DialTimeout = redisDialTimeout
	}
	if !query.Has("read_timeout") {
		opts.ReadTimeout = redisIOTimeout
	}
	if !query.Has("write_timeout") {
		opts.WriteTimeout = redisIOTimeout
	}
	if !query.Has("max_retries") {
		opts.MaxRetries = 1
	}
	// go-redis dials up to five times by default before a command fails,
	// which would make each limit check of a Redis outage take seconds.
	opts.DialerRetries = 1
	opts.DialerRetryTimeout = 50 * time.Millisecond
	c.parsedOptions = opts
	for _, rate := range limits {
		if rate.Enabled() && rate.Period > redisstore.MaxPeriod {
			problems = append(problems, fmt.Errorf("limit %s is longer than the %s that the Redis store supports", rate, redisstore.MaxPeriod))
		}
	}
	return problems
}

// redacted returns the URL without its password, for the log.
func (c *redisConfig) redacted() string {
	u, err := url.Parse(c.url)
	if err != nil {
		return "(invalid)"
	}
	return u.Redacted()
}

func queryOf(raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

// connect opens the Redis client, moves the limiter and the access token
// into Redis, and returns a function that closes the client. An unreachable
// Redis is logged, not fatal: the token falls back to this process, and
// limits follow --limit-redis-failure until Redis responds again.
func (c *redisConfig) connect(ctx context.Context, limiter *ratelimit.Limiter, client *livehub.Client, logger *slog.Logger, observe *liveHubLog) func() {
	redis.SetLogger(redisLogger{log: observe})
	rc := redis.NewClient(c.parsedOptions)

	pingCtx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := rc.Ping(pingCtx).Err(); err != nil {
		logger.Error("Redis is unreachable at start; limits follow --limit-redis-failure until it answers", "redis_url", c.redacted(), "error", err)
	}

	store := redisstore.New(rc, redisstore.Options{KeyPrefix: c.keyPrefix + "ratelimit:"})
	onError := func(err error) { observe.limitStoreError(err, c.limitFailure) }
	switch c.limitFailure {
	case "open":
		limiter.Store = ratelimit.FailOpen(store, onError)
	case "local":
		limiter.Store = ratelimit.Fallback(store, limiter.Store, onError)
	default:
		limiter.Store = ratelimit.FailClosed(store, onError)
	}

	// Deployments with other Live Hub credentials may share the Redis and
	// the prefix, so the token key also names the credentials.
	sum := sha256.Sum256([]byte(client.BaseURL + "\n" + client.ClientID))
	client.TokenStore = redistoken.New(rc, redistoken.Options{KeyPrefix: c.keyPrefix + hex.EncodeToString(sum[:8]) + ":"})

	logger.Info("sharing rate limits and the Live Hub access token in Redis", "redis_url", c.redacted(), "key_prefix", c.keyPrefix, "limit_redis_failure", c.limitFailure)
	return func() { rc.Close() }
}

// check sends Redis one PING, as serve does at start, and prints one line
// about it. It reports whether Redis responded. Without --redis-url it
// prints nothing.
func (c *redisConfig) check(ctx context.Context, stdout io.Writer) bool {
	if c.url == "" {
		return true
	}
	// The line printed below reports the failure, so go-redis's own messages
	// would only repeat it on standard error.
	redis.SetLogger(quietRedisLogger{})
	rc := redis.NewClient(c.parsedOptions)
	defer rc.Close()
	pingCtx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := rc.Ping(pingCtx).Err(); err != nil {
		fmt.Fprintf(stdout, "redis: FAILED: %s did not answer PING: %v\n", c.redacted(), err)
		return false
	}
	fmt.Fprintf(stdout, "redis: responded to PING at %s\n", c.redacted())
	return true
}

// redisLogger sends go-redis's own messages to the log, held back when
// they repeat, instead of to standard error.
type redisLogger struct{ log *liveHubLog }

func (l redisLogger) Printf(ctx context.Context, format string, args ...any) {
	message := fmt.Sprintf(format, args...)
	l.log.logRepeated(ctx, "redis:"+message, "Redis client message", slog.String("message", message))
}

// quietRedisLogger drops go-redis's own messages.
type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}
