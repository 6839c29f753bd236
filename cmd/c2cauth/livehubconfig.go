package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/livehub"
)

// defaultConnectionName is the name under which --sip-connection is offered.
const defaultConnectionName = "default"

// connectionName is the form of a connection name in a URL path.
var connectionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// liveHubConfig holds the options for reaching Live Hub. The serve,
// check and code subcommands share them.
type liveHubConfig struct {
	url              string
	clientID         string
	clientSecretFile string
	sipConnection    string
	sipConnections   []string
	upstreamTimeout  time.Duration
}

// liveHubSettings is the validated form of liveHubConfig.
type liveHubSettings struct {
	clientSecret      string
	connections       map[string]string
	defaultConnection string
}

func (c *liveHubConfig) register(o *options) {
	o.stringVar(&c.url, "livehub-url", "LIVEHUB_URL", livehub.DefaultBaseURL, "base `URL` of the Live Hub API")
	o.stringVar(&c.clientID, "client-id", "LIVEHUB_CLIENT_ID", "", "Live Hub API client `ID`")
	o.stringVar(&c.clientSecretFile, "client-secret-file", "LIVEHUB_CLIENT_SECRET_FILE", "", "`file` holding the Live Hub API client secret, re-read on SIGHUP and when it changes; or set LIVEHUB_CLIENT_SECRET")
	o.stringVar(&c.sipConnection, "sip-connection", "C2CAUTH_SIP_CONNECTION", "", "Live Hub SIP connection `ID` that POST /v1/auth-code uses")
	o.listVar(&c.sipConnections, "sip-connections", "C2CAUTH_SIP_CONNECTIONS", "named SIP connections as `NAME=ID,...`, served at POST /v1/auth-code/NAME")
	o.durationVar(&c.upstreamTimeout, "upstream-timeout", "C2CAUTH_UPSTREAM_TIMEOUT", authcode.DefaultUpstreamTimeout, "maximum `duration` spent on Live Hub for one request, retries included")
}

// validate checks the Live Hub options and returns every problem.
func (c *liveHubConfig) validate(getenv getenvFunc) (liveHubSettings, []error) {
	var s liveHubSettings
	var problems []error
	report := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	if err := checkLiveHubURL(c.url); err != nil {
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
	if c.upstreamTimeout <= 0 {
		report("--upstream-timeout %s must be positive", c.upstreamTimeout)
	}
	return s, problems
}

// newClient returns a Live Hub client for the validated settings.
func (c *liveHubConfig) newClient(s liveHubSettings) *livehub.Client {
	return &livehub.Client{BaseURL: c.url, ClientID: c.clientID, ClientSecret: s.clientSecret}
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

// connectionNames lists the configured names for the start-up log.
func connectionNames(connections map[string]string) []string {
	names := make([]string, 0, len(connections))
	for name := range connections {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
