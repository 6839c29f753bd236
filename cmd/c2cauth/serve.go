package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/livehub"
	"github.com/c2cauth/c2cauth/phone"
)

// defaultConnectionName is the name under which --sip-connection is offered.
const defaultConnectionName = "default"

// connectionName is the form of a connection name in a URL path.
var connectionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// serveConfig is the configuration of `c2cauth serve`.
type serveConfig struct {
	listen           string
	liveHubURL       string
	clientID         string
	clientSecret     string // only from LIVEHUB_CLIENT_SECRET, never a flag
	clientSecretFile string
	sipConnection    string
	sipConnections   []string
	policy           policyConfig
	callerPhone      string
	defaultRegion    string
	upstreamTimeout  time.Duration
	logFormat        string
	logLevel         string
}

// settings is the validated form of serveConfig.
type settings struct {
	clientSecret      string
	connections       map[string]string
	defaultConnection string
	policies          policies
	callerPhone       authcode.PhoneMode
	logger            *slog.Logger
}

func (c *serveConfig) register(o *options) {
	o.stringVar(&c.listen, "listen", "C2CAUTH_LISTEN", ":8080", "`address` the backend listens on")
	o.stringVar(&c.liveHubURL, "livehub-url", "LIVEHUB_URL", livehub.DefaultBaseURL, "base `URL` of the Live Hub API")
	o.stringVar(&c.clientID, "client-id", "LIVEHUB_CLIENT_ID", "", "Live Hub API client `ID`")
	o.stringVar(&c.clientSecretFile, "client-secret-file", "LIVEHUB_CLIENT_SECRET_FILE", "", "`file` holding the Live Hub API client secret; or set LIVEHUB_CLIENT_SECRET")
	o.stringVar(&c.sipConnection, "sip-connection", "C2CAUTH_SIP_CONNECTION", "", "Live Hub SIP connection `ID` that POST /v1/auth-code uses")
	o.listVar(&c.sipConnections, "sip-connections", "C2CAUTH_SIP_CONNECTIONS", "named SIP connections as `NAME=ID,...`, served at POST /v1/auth-code/NAME")
	c.policy.register(o)
	o.stringVar(&c.callerPhone, "caller-phone", "C2CAUTH_CALLER_PHONE", "identity", "caller phone asserted to Live Hub: `identity`, request or off")
	o.stringVar(&c.defaultRegion, "default-region", "C2CAUTH_DEFAULT_REGION", "", "`region` code, such as US, for request phone numbers without a country code")
	o.durationVar(&c.upstreamTimeout, "upstream-timeout", "C2CAUTH_UPSTREAM_TIMEOUT", authcode.DefaultUpstreamTimeout, "maximum `duration` spent on Live Hub for one request")
	o.stringVar(&c.logFormat, "log-format", "C2CAUTH_LOG_FORMAT", "text", "log `format`: text or json")
	o.stringVar(&c.logLevel, "log-level", "C2CAUTH_LOG_LEVEL", "info", "log `level`: debug, info, warn or error")
}

// validate checks the whole configuration and reports every problem at
// once, each naming the option to fix.
func (c *serveConfig) validate(getenv getenvFunc, stderr io.Writer) (settings, error) {
	var s settings
	var problems []error
	report := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		report("--listen %q is not a host:port address, such as :8080", c.listen)
	}
	if err := checkLiveHubURL(c.liveHubURL); err != nil {
		report("--livehub-url: %v", err)
	}
	if c.clientID == "" {
		report("--client-id is missing; set it to the ID of a Live Hub API client")
	}

	secret, err := readSecret(getenv("LIVEHUB_CLIENT_SECRET"), c.clientSecretFile)
	if err != nil {
		problems = append(problems, err)
	}
	s.clientSecret = secret

	s.connections, s.defaultConnection, err = parseConnections(c.sipConnection, c.sipConnections)
	if err != nil {
		problems = append(problems, err)
	}

	var policyProblems []error
	s.policies, policyProblems = c.policy.build(c.defaultRegion)
	problems = append(problems, policyProblems...)

	s.callerPhone, err = authcode.ParsePhoneMode(c.callerPhone)
	if err != nil {
		report("--caller-phone: %v", err)
	}
	if c.defaultRegion != "" && !phone.ValidRegion(c.defaultRegion) {
		report("--default-region %q is not a known region code; use a code such as US or GB", c.defaultRegion)
	}
	if c.upstreamTimeout <= 0 {
		report("--upstream-timeout %s must be positive", c.upstreamTimeout)
	}

	s.logger, err = newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		problems = append(problems, err)
	}

	if err := errors.Join(problems...); err != nil {
		if s.policies.close != nil {
			s.policies.close()
		}
		return settings{}, &usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return s, nil
}

// checkLiveHubURL accepts an https URL, or an http URL on a loopback host
// for an emulator, because an access token sent in clear text can be stolen.
func checkLiveHubURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL such as %s", raw, livehub.DefaultBaseURL)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q must be a scheme and host only, such as %s", raw, livehub.DefaultBaseURL)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q uses plain http; use https (plain http is allowed only on loopback, for an emulator)", raw)
	default:
		return fmt.Errorf("%q must use https", raw)
	}
}

// readSecret returns the client secret from the environment or the file.
func readSecret(fromEnv, file string) (string, error) {
	switch {
	case fromEnv != "" && file != "":
		return "", errors.New("LIVEHUB_CLIENT_SECRET and --client-secret-file are both set; use one of them")
	case fromEnv != "":
		return fromEnv, nil
	case file == "":
		return "", errors.New("the client secret is missing; set LIVEHUB_CLIENT_SECRET or --client-secret-file")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--client-secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return "", fmt.Errorf("--client-secret-file %q is empty", file)
	}
	return secret, nil
}

// parseConnections builds the map from connection name to SIP connection ID.
// --sip-connection is the default, named "default"; without it the first of
// --sip-connections is the default.
func parseConnections(defaultID string, named []string) (map[string]string, string, error) {
	connections := make(map[string]string)
	var problems []error
	defaultName := ""
	if defaultID != "" {
		connections[defaultConnectionName] = defaultID
		defaultName = defaultConnectionName
	}
	for _, entry := range named {
		name, id, ok := strings.Cut(entry, "=")
		name, id = strings.TrimSpace(name), strings.TrimSpace(id)
		switch {
		case !ok || id == "":
			problems = append(problems, fmt.Errorf("--sip-connections entry %q is not NAME=ID", entry))
			continue
		case !connectionName.MatchString(name):
			problems = append(problems, fmt.Errorf("--sip-connections name %q must be 1 to 64 letters, digits, '.', '_' or '-'", name))
			continue
		}
		if _, dup := connections[name]; dup {
			problems = append(problems, fmt.Errorf("--sip-connections names %q twice (or it clashes with --sip-connection, which is named %q)", name, defaultConnectionName))
			continue
		}
		connections[name] = id
		if defaultName == "" {
			defaultName = name
		}
	}
	if len(connections) == 0 && len(problems) == 0 {
		problems = append(problems, errors.New("no SIP connection is configured; set --sip-connection to a Live Hub click-to-call SIP connection ID"))
	}
	return connections, defaultName, errors.Join(problems...)
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

	client := &livehub.Client{
		BaseURL:      cfg.liveHubURL,
		ClientID:     cfg.clientID,
		ClientSecret: s.clientSecret,
	}
	handler, err := authcode.New(authcode.Config{
		Codes:             client,
		Connections:       s.connections,
		DefaultConnection: s.defaultConnection,
		Authenticator:     s.policies.authenticator,
		Origin:            s.policies.origin,
		Limiter:           s.policies.limiter,
		CallerPhone:       s.callerPhone,
		DefaultRegion:     cfg.defaultRegion,
		UpstreamTimeout:   cfg.upstreamTimeout,
		Logger:            s.logger,
	})
	if err != nil {
		return err
	}

	ln, err := listen(cfg.listen, "the backend")
	if err != nil {
		return err
	}
	s.logger.Info("c2cauth serving",
		"url", baseURL(ln),
		"livehub_url", cfg.liveHubURL,
		"client_id", cfg.clientID,
		"auth", cfg.policy.auth,
		"allowed_origins", cfg.policy.allowedOrigins,
		"trusted_proxies", cfg.policy.trustedProxies,
		"limit_user", s.policies.limiter.PerUser.String(),
		"limit_ip", s.policies.limiter.PerIP.String(),
		"limit_global", s.policies.limiter.Global.String(),
		"caller_phone", cfg.callerPhone,
		"connections", connectionNames(s.connections),
		"default_connection", s.defaultConnection)
	fmt.Fprintf(stdout, "c2cauth backend listening on %s\n", baseURL(ln))

	err = serve(ctx, ln, routes(backend{authCode: handler, ready: client.Ready, logger: s.logger}), s.logger)
	s.logger.Info("c2cauth stopped")
	return err
}

// connectionNames lists the configured names for the start-up log.
func connectionNames(connections map[string]string) []string {
	names := make([]string, 0, len(connections))
	for name := range connections {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
