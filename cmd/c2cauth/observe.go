package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/requestid"
)

// repeatWindow is how long an upstream error is not logged again after it
// was logged. An outage repeats one error for every request, and one line
// with a count carries as much as thousands.
const repeatWindow = 10 * time.Second

// liveHubLog logs the Live Hub client's retries, token fetches and upstream
// errors, with the request ID of the request that caused them.
type liveHubLog struct {
	logger  *slog.Logger
	secrets *secretWatcher
	now     func() time.Time

	mu      sync.Mutex
	repeats map[string]*repeat // by error key
}

// repeat tracks one error while it is being held back.
type repeat struct {
	until      time.Time
	suppressed int
}

func newLiveHubLog(logger *slog.Logger, secrets *secretWatcher) *liveHubLog {
	return &liveHubLog{logger: logger, secrets: secrets, now: time.Now, repeats: make(map[string]*repeat)}
}

func (l *liveHubLog) observer() *livehub.Observer {
	return &livehub.Observer{
		Retry:      l.retry,
		TokenFetch: l.tokenFetch,
		Upstream:   l.upstream,
		TokenStore: l.tokenStore,
	}
}

func (l *liveHubLog) tokenStore(ctx context.Context, e livehub.TokenStoreEvent) {
	if e.Err == nil {
		return
	}
	l.logRepeated(ctx, "token-store:"+e.Op+":"+e.Err.Error(), "shared access token store failed; requesting the token directly",
		slog.String("request_id", requestid.FromContext(ctx)),
		slog.String("operation", e.Op),
		slog.Bool("background", e.Background),
		slog.String("error", errorText(e.Err)))
}

// limitStoreError logs a failed rate limit check in the shared store.
func (l *liveHubLog) limitStoreError(err error, policy string) {
	l.logRepeated(context.Background(), "limit-store:"+err.Error(), "rate limit store failed",
		slog.String("limit_redis_failure", policy),
		slog.String("error", errorText(err)))
}

func (l *liveHubLog) retry(ctx context.Context, e livehub.RetryEvent) {
	l.logger.LogAttrs(ctx, slog.LevelWarn, "retrying Live Hub request",
		slog.String("request_id", requestid.FromContext(ctx)),
		slog.String("operation", e.Op),
		slog.Int("attempt", e.Attempt),
		slog.Duration("wait", e.Wait),
		slog.String("error", errorText(e.Err)))
}

func (l *liveHubLog) tokenFetch(ctx context.Context, e livehub.TokenFetchEvent) {
	if e.Err == nil {
		l.logger.LogAttrs(ctx, slog.LevelInfo, "Live Hub access token obtained",
			slog.Duration("duration", e.Duration),
			slog.Bool("background", e.Background))
		return
	}
	if livehub.IsUnauthorized(e.Err) && l.secrets != nil {
		// The secret may have been rotated in the file already.
		l.secrets.requestReload()
	}
	l.logRepeated(ctx, "token:"+e.Err.Error(), "Live Hub access token request failed",
		slog.String("request_id", requestid.FromContext(ctx)),
		slog.Duration("duration", e.Duration),
		slog.Bool("background", e.Background),
		slog.String("error", errorText(e.Err)))
}

func (l *liveHubLog) upstream(ctx context.Context, e livehub.UpstreamEvent) {
	if e.Err == nil {
		return
	}
	key := fmt.Sprintf("%s:%d:%s", e.Op, e.StatusCode, e.Err)
	l.logRepeated(ctx, key, "Live Hub request failed",
		slog.String("request_id", requestid.FromContext(ctx)),
		slog.String("operation", e.Op),
		slog.Int("status", e.StatusCode),
		slog.Duration("duration", e.Duration),
		slog.String("error", errorText(e.Err)))
}

// logRepeated logs an error unless the same key was logged within
// repeatWindow. The next line logged for the key carries the number of
// lines held back.
func (l *liveHubLog) logRepeated(ctx context.Context, key, message string, attrs ...slog.Attr) {
	now := l.now()
	l.mu.Lock()
	r, seen := l.repeats[key]
	if seen && now.Before(r.until) {
		r.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := 0
	if seen {
		suppressed = r.suppressed
	}
	l.repeats[key] = &repeat{until: now.Add(repeatWindow)}
	for k, old := range l.repeats {
		if now.After(old.until.Add(repeatWindow)) {
			delete(l.repeats, k)
		}
	}
	l.mu.Unlock()

	if suppressed > 0 {
		attrs = append(attrs, slog.Int("repeated_since_last_logged", suppressed))
	}
	l.logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn, message, attrs...)
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
