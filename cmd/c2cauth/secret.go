package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/c2cauth/c2cauth/livehub"
)

// secretPollInterval is how often the client secret file is checked for a
// new secret. Kubernetes updates a mounted Secret within about a minute, so
// a few seconds adds little to a rotation.
const secretPollInterval = 2 * time.Second

// secretWatcher re-reads the client secret file on SIGHUP, when the file
// changes, and when Live Hub rejects the client credentials, and hands a
// new secret to the Live Hub client.
type secretWatcher struct {
	client  *livehub.Client
	logger  *slog.Logger
	reload  chan struct{}
	current string

	// lastError and lastErrorAt hold back a read error that repeats on
	// every poll, so a missing file is logged once a minute.
	lastError   string
	lastErrorAt time.Time
}

// secretErrorRepeat is how often a read error that persists is logged.
const secretErrorRepeat = time.Minute

func newSecretWatcher(client *livehub.Client, logger *slog.Logger) *secretWatcher {
	return &secretWatcher{client: client, logger: logger, reload: make(chan struct{}, 1), current: client.ClientSecret}
}

// requestReload makes watch read the file now. It never blocks.
func (w *secretWatcher) requestReload() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// watch re-reads the secret file at path until ctx is cancelled.
func (w *secretWatcher) watch(ctx context.Context, path string) {
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)
	ticker := time.NewTicker(secretPollInterval)
	defer ticker.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case <-hangup:
			w.load(path, "SIGHUP")
		case <-w.reload:
			w.load(path, "credentials rejected")
		case <-ticker.C:
			w.load(path, "")
		}
	}
}

// load reads the file and passes a changed secret to the client. reason is
// empty for a periodic check, which logs only changes and failures.
func (w *secretWatcher) load(path, reason string) {
	data, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(data)) == "" {
		err = errors.New("the file is empty")
	}
	if err != nil {
		if err.Error() != w.lastError || time.Since(w.lastErrorAt) >= secretErrorRepeat || reason != "" {
			w.lastError, w.lastErrorAt = err.Error(), time.Now()
			w.logger.Error("client secret file cannot be read; keeping the current secret", "file", path, "error", err)
		}
		return
	}
	w.lastError = ""
	secret := strings.TrimSpace(string(data))
	if secret == w.current {
		if reason != "" {
			w.logger.Info("client secret file unchanged", "file", path, "reason", reason)
		}
		return
	}
	w.current = secret
	w.client.SetClientSecret(secret)
	if reason == "" {
		reason = "file changed"
	}
	w.logger.Info("client secret reloaded; the next access token is requested with it", "file", path, "reason", reason)
}
