package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/metrics"
)

// appConfig is the set of parts that newApp wires together.
type appConfig struct {
	client            *livehub.Client
	connections       map[string]string
	defaultConnection string
	policies          policies
	callerPhone       authcode.PhoneMode
	defaultRegion     string
	upstreamTimeout   time.Duration // zero means the handler's default
	logger            *slog.Logger
	dev               *devRoutes // nil outside dev mode
}

// app is a wired backend: the Live Hub client, the auth-code handler and
// the parts that observe them.
type app struct {
	client   *livehub.Client
	authCode *authcode.Handler
	secrets  *secretWatcher
	log      *liveHubLog
	metrics  *metrics.Metrics
	logger   *slog.Logger
	dev      *devRoutes
}

// newApp connects the client's events to the log, builds the auth-code
// handler and returns the app.
func newApp(cfg appConfig) (*app, error) {
	a := &app{client: cfg.client, logger: cfg.logger, dev: cfg.dev, metrics: metrics.New()}
	a.secrets = newSecretWatcher(cfg.client, cfg.logger)
	a.log = newLiveHubLog(cfg.logger, a.secrets)
	cfg.client.Observer = metrics.ChainObservers(a.log.observer(), a.metrics.Observer())

	handler, err := authcode.New(authcode.Config{
		Codes:             cfg.client,
		Connections:       cfg.connections,
		DefaultConnection: cfg.defaultConnection,
		Authenticator:     cfg.policies.authenticator,
		Origin:            cfg.policies.origin,
		Limiter:           cfg.policies.limiter,
		CallerPhone:       cfg.callerPhone,
		DefaultRegion:     cfg.defaultRegion,
		UpstreamTimeout:   cfg.upstreamTimeout,
		Logger:            cfg.logger,
		OnResult: func(_ context.Context, connection, outcome string) {
			a.metrics.AuthCodeResult(connection, outcome)
		},
	})
	if err != nil {
		return nil, err
	}
	a.authCode = handler
	return a, nil
}

// backendHandler returns the public handler. withMetrics adds /metrics,
// for deployments without a separate admin listener.
func (a *app) backendHandler(withMetrics bool) http.Handler {
	b := backend{authCode: a.authCode, ready: a.client.Ready, logger: a.logger, dev: a.dev, instrument: a.metrics.Instrument}
	if withMetrics {
		b.metrics = a.metrics.Handler()
	}
	return routes(b)
}

// adminHandler returns the handler of the admin listener. withProfiles adds
// Go's runtime profiles under /debug/pprof/.
func (a *app) adminHandler(withProfiles bool) http.Handler {
	return adminRoutes(a.client.Ready, a.metrics.Handler(), a.logger, withProfiles)
}
