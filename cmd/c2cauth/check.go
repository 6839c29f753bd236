package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/c2cauth/c2cauth/authcode"
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
	o := newOptions("check", "Validate the serve configuration and obtain a Live Hub access token with it; with --probe, also request one code per connection. Takes every option of serve.", stdout, stderr)
	cfg.register(o)
	o.fs.BoolVar(&probe, "probe", false, "also request one authentication code for each configured connection")
	if err := o.parse(args, getenv); err != nil {
		return err
	}
	s, err := cfg.validate(getenv, io.Discard)
	if err != nil {
		return err
	}
	s.policies.close()
	fmt.Fprintln(stdout, "configuration: valid")

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
	if !probe {
		return nil
	}

	failed := false
	for _, name := range connectionNames(s.liveHub.connections) {
		id := s.liveHub.connections[name]
		probeCtx, cancel := context.WithTimeout(ctx, checkTimeout)
		code, err := client.GenerateAuthenticationCode(probeCtx, id, "")
		cancel()
		if err != nil {
			failed = true
			fmt.Fprintf(stdout, "connection %q (SIP connection %s): FAILED: %s\n", name, id, explainGenerateError(err))
			continue
		}
		fmt.Fprintf(stdout, "connection %q (SIP connection %s): code %s issued\n", name, id, authcode.ShortenCode(code))
	}
	if failed {
		return errCheckFailed
	}
	return nil
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
