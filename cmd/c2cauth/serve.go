package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/phone"
)

// serveConfig is the configuration of `c2cauth serve` and `c2cauth check`.
type serveConfig struct {
	listen        string
	adminListen   string
	pprof         bool
	tlsCert       string
	tlsKey        string
	liveHub       liveHubConfig
	policy        policyConfig
	redis         redisConfig
	callerPhone   string
	defaultRegion string
	logFormat     string
	logLevel      string

	// options is the flag set that register filled, for the options that
	// were set once it has parsed.
	options *options
}

// serveSettings is the validated form of serveConfig.
type serveSettings struct {
	liveHub     liveHubSettings
	policies    policies
	callerPhone authcode.PhoneMode
	tls         *tls.Config // nil for plain HTTP
	logger      *slog.Logger
}

func (c *serveConfig) register(o *options) {
	c.options = o
	o.configFile("C2CAUTH_CONFIG", nil)
	o.stringVar(&c.listen, "listen", "C2CAUTH_LISTEN", ":8080", "`address` the backend listens on")
	o.stringVar(&c.adminListen, "admin-listen", "C2CAUTH_ADMIN_LISTEN", "", "`address` for /metrics, /healthz and /readyz alone, such as :9090; empty serves them on --listen")
	o.boolVar(&c.pprof, "pprof", "C2CAUTH_PPROF", false, "also serve Go's runtime profiles under /debug/pprof/ on --admin-listen, which must be set")
	o.stringVar(&c.tlsCert, "tls-cert", "C2CAUTH_TLS_CERT", "", "PEM certificate chain `file` for HTTPS on --listen; with --tls-key")
	o.stringVar(&c.tlsKey, "tls-key", "C2CAUTH_TLS_KEY", "", "PEM private key `file` for HTTPS on --listen; with --tls-cert")
	c.liveHub.register(o)
	c.policy.register(o)
	c.redis.register(o)
	o.stringVar(&c.callerPhone, "caller-phone", "C2CAUTH_CALLER_PHONE", "identity", "`mode` that chooses the caller phone asserted to Live Hub: identity, request or off")
	o.stringVar(&c.defaultRegion, "default-region", "C2CAUTH_DEFAULT_REGION", "", "`region` code, such as US, for request phone numbers without a country code")
	o.stringVar(&c.logFormat, "log-format", "C2CAUTH_LOG_FORMAT", "text", "log `format`: text or json")
	o.stringVar(&c.logLevel, "log-level", "C2CAUTH_LOG_LEVEL", "info", "log `level`: debug, info, warn or error")
}

// validate checks the whole configuration and reports every problem at
// once, each naming the option to fix. On success the caller must call
// close on the returned policies.
func (c *serveConfig) validate(getenv getenvFunc, stderr io.Writer) (serveSettings, error) {
	var s serveSettings
	var problems []error
	report := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		report("--listen %q is not a host:port address, such as :8080", c.listen)
	}
	if _, _, err := net.SplitHostPort(c.adminListen); c.adminListen != "" && err != nil {
		report("--admin-listen %q is not a host:port address, such as :9090", c.adminListen)
	}
	if c.pprof && c.adminListen == "" {
		report("--pprof needs --admin-listen: profiles are never served on the public port")
	}
	switch {
	case c.tlsCert == "" && c.tlsKey == "":
	case c.tlsCert == "" || c.tlsKey == "":
		report("--tls-cert and --tls-key must be set together")
	default:
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			report("--tls-cert and --tls-key: %v", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	problems = append(problems, c.otherModeOptions()...)

	var more []error
	s.liveHub, more = c.liveHub.validate(getenv)
	problems = append(problems, more...)
	s.policies, more = c.policy.build(c.defaultRegion)
	problems = append(problems, more...)
	if s.policies.limiter != nil {
		limiter := s.policies.limiter
		problems = append(problems, c.redis.validate(limiter.PerUser, limiter.PerIP, limiter.Global)...)
	}

	var err error
	s.callerPhone, err = authcode.ParsePhoneMode(c.callerPhone)
	if err != nil {
		report("--caller-phone: %v", err)
	}
	if c.defaultRegion != "" && !phone.ValidRegion(c.defaultRegion) {
		report("--default-region %q is not a known region code; use a code such as US or GB", c.defaultRegion)
	}
	s.logger, err = newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		problems = append(problems, err)
	}

	if c.options != nil {
		for i, problem := range problems {
			problems[i] = c.options.withSource(problem)
		}
	}
	if err := errors.Join(problems...); err != nil {
		s.policies.close()
		return serveSettings{}, &usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return s, nil
}

// authModeOptions maps the prefix of each sign-in mode's own options to
// the mode.
var authModeOptions = map[string]string{"forward-": "forward", "jwt-": "jwt", "header-": "header"}

// otherModeOptions reports each option of a sign-in mode other than --auth
// that was set, because a setting that has no effect suggests that --auth
// is not the mode the operator meant.
func (c *serveConfig) otherModeOptions() []error {
	if c.policy.auth == "" || c.options == nil {
		return nil
	}
	var names []string
	for name := range c.options.set {
		names = append(names, name)
	}
	slices.Sort(names)

	var problems []error
	for _, name := range names {
		for prefix, mode := range authModeOptions {
			if strings.HasPrefix(name, prefix) && mode != c.policy.auth {
				problems = append(problems, fmt.Errorf("--%s is set, but --auth is %s, which ignores it; remove it or use --auth %s", name, c.policy.auth, mode))
			}
		}
	}
	return problems
}

// logStart logs the effective configuration, which holds no secret.
func (c *serveConfig) logStart(logger *slog.Logger, s serveSettings, url, adminURL string) {
	logger.Info("c2cauth serving",
		"url", url,
		"admin_url", adminURL,
		"pprof", c.pprof,
		"tls", s.tls != nil,
		"livehub_url", c.liveHub.url,
		"client_id", c.liveHub.clientID,
		"client_secret_from", secretSource(c.liveHub.clientSecretFile),
		"connections", connectionNames(s.liveHub.connections),
		"default_connection", s.liveHub.defaultConnection,
		"upstream_timeout", c.liveHub.upstreamTimeout.String(),
		"auth", c.policy.auth,
		"allowed_origins", s.policies.origin.Origins(),
		"trusted_proxies", c.policy.trustedProxies,
		"limit_user", s.policies.limiter.PerUser.String(),
		"limit_ip", s.policies.limiter.PerIP.String(),
		"limit_global", s.policies.limiter.Global.String(),
		"caller_phone", c.callerPhone,
		"default_region", c.defaultRegion,
		"redis", c.redis.url != "")
}

// secretSource names where the client secret comes from, for the log.
func secretSource(file string) string {
	if file != "" {
		return "file " + file
	}
	return "LIVEHUB_CLIENT_SECRET"
}

func runServe(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg serveConfig
	o := newOptions("serve", "Serve authentication codes for a website against Live Hub.", stdout, stderr)
	cfg.register(o)
	if err := o.parse(args, getenv); err != nil {
		return err
	}
	s, err := cfg.validate(getenv, stderr)
	if err != nil {
		return err
	}
	defer s.policies.close()

	app, err := newApp(appConfig{
		client:            cfg.liveHub.newClient(s.liveHub),
		connections:       s.liveHub.connections,
		defaultConnection: s.liveHub.defaultConnection,
		policies:          s.policies,
		callerPhone:       s.callerPhone,
		defaultRegion:     cfg.defaultRegion,
		upstreamTimeout:   cfg.liveHub.upstreamTimeout,
		logger:            s.logger,
	})
	if err != nil {
		return err
	}
	if cfg.redis.url != "" {
		closeRedis := cfg.redis.connect(ctx, s.policies.limiter, app.client, s.logger, app.log)
		defer closeRedis()
	}

	ln, err := listen(cfg.listen, "the backend")
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if cfg.adminListen != "" {
		if adminLn, err = listen(cfg.adminListen, "the admin endpoints"); err != nil {
			ln.Close()
			return err
		}
	}
	url := baseURL(ln)
	if s.tls != nil {
		url = "https" + url[len("http"):]
	}
	var adminURL string
	if adminLn != nil {
		adminURL = baseURL(adminLn)
	}
	cfg.logStart(s.logger, s, url, adminURL)
	cfg.policy.logWarnings(s.logger, s.policies)
	fmt.Fprintf(stdout, "c2cauth backend listening on %s\n", url)
	if adminLn != nil {
		fmt.Fprintf(stdout, "c2cauth admin endpoints listening on %s\n", adminURL)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if cfg.liveHub.clientSecretFile != "" {
		wg.Go(func() { app.secrets.watch(ctx, cfg.liveHub.clientSecretFile) })
	}
	errs := make([]error, 2)
	wg.Go(func() {
		errs[0] = serve(ctx, ln, s.tls, app.backendHandler(adminLn == nil), s.logger)
		cancel()
	})
	if adminLn != nil {
		wg.Go(func() {
			errs[1] = serve(ctx, adminLn, nil, app.adminHandler(cfg.pprof), s.logger)
			cancel()
		})
	}
	wg.Wait()
	s.logger.Info("c2cauth stopped")
	return errors.Join(errs...)
}
