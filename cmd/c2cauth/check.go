package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
	"github.com/c2cauth/c2cauth/identity"
	"github.com/c2cauth/c2cauth/identity/forward"
	"github.com/c2cauth/c2cauth/identity/jwtauth"
	"github.com/c2cauth/c2cauth/internal/httpstatus"
	"github.com/c2cauth/c2cauth/internal/urls"
	"github.com/c2cauth/c2cauth/livehub"
)

// checkTimeout bounds each Live Hub request of `c2cauth check`.
const checkTimeout = 15 * time.Second

// errCheckFailed is returned when the configuration is valid but Live Hub
// cannot be used with it; the details are already printed.
var errCheckFailed = errors.New("check failed")

func runCheck(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg serveConfig
	var probe bool
	o := newOptions("check", "Validate the serve configuration, test the sign-in back end (the key set of --jwt-jwks-url or the endpoint of --forward-url), and obtain a Live Hub access token; with --probe, also request one code per connection. Takes every option of serve.", stdout, stderr)
	cfg.register(o)
	o.boolVar(&probe, "probe", "C2CAUTH_CHECK_PROBE", false, "also request one authentication code for each configured connection")
	if err := o.parse(args, getenv); err != nil {
		return err
	}
	s, err := cfg.validate(getenv, io.Discard)
	if err != nil {
		return err
	}
	defer s.policies.close()
	fmt.Fprintln(stdout, "configuration: valid")

	signInFailed := !checkSignIn(ctx, stdout, cfg.policy, s.policies.authenticator)
	redisFailed := !cfg.redis.check(ctx, stdout)

	client := cfg.liveHub.newClient(s.liveHub)
	client.MaxAttempts = 1
	defer client.CloseIdleConnections()

	tokenCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	err = client.Ready(tokenCtx)
	cancel()
	if err != nil {
		fmt.Fprintf(stdout, "access token: FAILED: %s\n", explainTokenError(err, cfg.liveHub))
		return errCheckFailed
	}
	fmt.Fprintf(stdout, "access token: obtained from %s for API client %q\n", cfg.liveHub.url, cfg.liveHub.clientID)
	if probe && !probeConnections(ctx, stdout, client, s.liveHub.connections) {
		return errCheckFailed
	}
	if signInFailed || redisFailed {
		return errCheckFailed
	}
	return nil
}

// probeConnections requests one code for each connection, printing a line
// for each, and reports whether every connection gave a code.
func probeConnections(ctx context.Context, stdout io.Writer, client *livehub.Client, connections map[string]string) bool {
	ok := true
	for _, name := range connectionNames(connections) {
		id := connections[name]
		probeCtx, cancel := context.WithTimeout(ctx, checkTimeout)
		code, err := client.GenerateAuthenticationCode(probeCtx, id, "")
		cancel()
		if err != nil {
			ok = false
			fmt.Fprintf(stdout, "connection %q (SIP connection %s): FAILED: %s\n", name, id, explainGenerateError(err))
			continue
		}
		fmt.Fprintf(stdout, "connection %q (SIP connection %s): code %s issued\n", name, id, authcode.ShortenCode(code))
	}
	return ok
}

// checkSignIn tests the sign-in back end of a and prints one line about
// it, and one more for each warning. It reports whether the back end can
// be used. Modes without a back end to reach (none, header, and jwt with
// --jwt-key-file) print nothing.
func checkSignIn(ctx context.Context, stdout io.Writer, cfg policyConfig, a identity.Authenticator) bool {
	switch a := a.(type) {
	case *jwtauth.Authenticator:
		if cfg.jwtJWKSURL == "" {
			return true
		}
		return checkKeySet(ctx, stdout, a, outputURL(cfg.jwtJWKSURL))
	case *forward.Authenticator:
		return checkForward(ctx, stdout, a, outputURL(cfg.forwardURL))
	default:
		return true
	}
}

// checkKeySet reports on the key set that the validation fetched. The
// errors of CheckKeys name the URL themselves.
func checkKeySet(ctx context.Context, stdout io.Writer, a *jwtauth.Authenticator, keySetURL string) bool {
	usable, err := a.CheckKeys(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "key set: FAILED: %v\n", err)
		return false
	}
	noun := "keys"
	if usable == 1 {
		noun = "key"
	}
	fmt.Fprintf(stdout, "key set: %d usable %s at %s\n", usable, noun, keySetURL)
	return true
}

// checkForward sends the sign-in endpoint one request without credentials.
// Any 4xx passes, because it turns an anonymous request away, but only 401
// and 403 mean "not signed in" to c2cauth, so another 4xx adds a warning.
// So does an endpoint that gets the visitors' credentials unencrypted. The
// errors of Probe name the URL themselves.
func checkForward(ctx context.Context, stdout io.Writer, a *forward.Authenticator, endpointURL string) bool {
	status, err := a.Probe(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "sign-in endpoint: FAILED: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "sign-in endpoint: %s responded with %s to a request without credentials\n", endpointURL, httpstatus.Text(status))
	}
	if err == nil && status != http.StatusUnauthorized && status != http.StatusForbidden {
		fmt.Fprintf(stdout, "sign-in endpoint: WARNING: c2cauth reads only 401 and 403 as not signed in; a visitor whose session has ended gets 503 instead of 401 if the endpoint answers %d to them too\n", status)
	}
	if a.SendsCredentialsUnencrypted() {
		fmt.Fprintf(stdout, "sign-in endpoint: WARNING: %s\n", unencryptedForwardWarning)
	}
	return err == nil
}

// outputURL returns raw without its query and fragment, which may hold a
// secret, for printing.
func outputURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return urls.WithoutSecrets(u)
}

// explainTokenError explains in plain words why no access token was obtained.
func explainTokenError(err error, cfg liveHubConfig) string {
	switch {
	case livehub.IsUnauthorized(err):
		return fmt.Sprintf("Live Hub rejected API client %q as an invalid client: the client ID or secret is wrong, or the secret was changed in Live Hub (%v)", cfg.clientID, err)
	case livehub.IsTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("Live Hub at %s did not answer within %s (%v)", cfg.url, checkTimeout, err)
	case livehub.IsUnavailable(err):
		return fmt.Sprintf("Live Hub at %s is unavailable; try again later (%v)", cfg.url, err)
	default:
		return fmt.Sprintf("Live Hub at %s could not be reached or answered unexpectedly (%v)", cfg.url, err)
	}
}

// explainGenerateError explains in plain words why a probe code failed.
func explainGenerateError(err error) string {
	switch {
	case livehub.IsSIPConnectionNotFound(err):
		return "Live Hub does not know this SIP connection ID; check it in Live Hub's click-to-call connection settings"
	case livehub.IsUnauthorized(err):
		return fmt.Sprintf("Live Hub rejected the access token: %v", err)
	default:
		return err.Error()
	}
}

// sharedConfigKeys lists the configuration file keys of serve, which code
// ignores, so one file serves every subcommand.
func sharedConfigKeys() []string {
	var cfg serveConfig
	o := newOptions("serve", "", io.Discard, io.Discard)
	cfg.register(o)
	var keys []string
	o.fs.VisitAll(func(f *flag.Flag) { keys = append(keys, f.Name) })
	slices.Sort(keys)
	return keys
}
