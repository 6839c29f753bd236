package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/c2cauth/c2cauth/emulator"
)

// The credentials and SIP connection that `c2cauth dev` and, by default,
// `c2cauth emulator` know. They only ever unlock the emulator.
const (
	devClientID      = "dev-client"
	devClientSecret  = "dev-secret"
	devSIPConnection = "6f1d7c2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f"
)

// emulatorConfig is the configuration of `c2cauth emulator`.
type emulatorConfig struct {
	listen         string
	clientID       string
	clientSecret   string
	sipConnections []string
	tokenTTL       time.Duration
	codeTTL        time.Duration
}

func (c *emulatorConfig) register(o *options) {
	o.stringVar(&c.listen, "listen", "EMULATOR_LISTEN", "127.0.0.1:8081", "`address` the emulator listens on")
	o.stringVar(&c.clientID, "client-id", "EMULATOR_CLIENT_ID", devClientID, "API client `ID` the emulator accepts")
	o.stringVar(&c.clientSecret, "client-secret", "EMULATOR_CLIENT_SECRET", devClientSecret, "API client `secret` the emulator accepts (a test credential, so a flag is allowed)")
	o.listVar(&c.sipConnections, "sip-connection", "EMULATOR_SIP_CONNECTIONS", "SIP connection `ID`s that exist, repeatable or comma-separated (default "+devSIPConnection+")")
	o.durationVar(&c.tokenTTL, "token-ttl", "EMULATOR_TOKEN_TTL", time.Hour, "access token lifetime (`duration`)")
	o.durationVar(&c.codeTTL, "code-ttl", "EMULATOR_CODE_TTL", time.Minute, "authentication code lifetime (`duration`)")
}

func (c *emulatorConfig) validate() error {
	var problems []error
	if c.clientID == "" || c.clientSecret == "" {
		problems = append(problems, errors.New("--client-id and --client-secret must not be empty"))
	}
	if c.tokenTTL < time.Second {
		problems = append(problems, fmt.Errorf("--token-ttl %s must be at least 1s", c.tokenTTL))
	}
	if c.codeTTL < time.Second {
		problems = append(problems, fmt.Errorf("--code-ttl %s must be at least 1s", c.codeTTL))
	}
	if err := errors.Join(problems...); err != nil {
		return &usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return nil
}

func runEmulator(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg emulatorConfig
	o := newOptions("emulator", "Run the Live Hub emulator alone, for tests of a Live Hub integration.", stdout, stderr)
	o.configFile("EMULATOR_CONFIG", nil)
	cfg.register(o)
	if err := o.parse(args, getenv); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if len(cfg.sipConnections) == 0 {
		cfg.sipConnections = []string{devSIPConnection}
	}
	logger, err := newLogger(stderr, "text", "info")
	if err != nil {
		return err
	}

	em := emulator.New(emulator.Config{
		ClientID:       cfg.clientID,
		ClientSecret:   cfg.clientSecret,
		SIPConnections: cfg.sipConnections,
		TokenTTL:       cfg.tokenTTL,
		CodeTTL:        cfg.codeTTL,
	})
	ln, err := listen(cfg.listen, "the emulator")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Live Hub emulator listening on %s\n  client ID: %s\n  SIP connections: %v\n", baseURL(ln), cfg.clientID, cfg.sipConnections)
	logger.Info("emulator started", "url", baseURL(ln))
	err = serve(ctx, ln, nil, logRequests(em, logger), logger)
	logger.Info("emulator stopped")
	return err
}

// logRequests logs the method, path, status and duration of every request,
// so that a test run against the emulator can be followed. Bodies, tokens
// and codes are not logged.
func logRequests(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		logger.InfoContext(r.Context(), "emulator request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", recorder.status,
			"duration", time.Since(start))
	})
}

// statusRecorder remembers the status code a handler writes.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
