package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/c2cauth/c2cauth/phone"
)

func runCode(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg liveHubConfig
	var connection, callerPhone, defaultRegion string
	var asJSON bool
	o := newOptions("code", "Request one authentication code from Live Hub and print it, for a manual test.", stdout, stderr)
	o.configFile("C2CAUTH_CONFIG", sharedConfigKeys())
	o.commandLineOnly = []string{"caller-phone"}
	cfg.register(o)
	o.stringVar(&connection, "connection", "C2CAUTH_CODE_CONNECTION", "", "connection `name` to request the code for; empty means the default connection")
	o.stringVar(&callerPhone, "caller-phone", "C2CAUTH_CODE_CALLER_PHONE", "", "caller `phone` for Live Hub to assert, such as +14155550100")
	o.stringVar(&defaultRegion, "default-region", "C2CAUTH_DEFAULT_REGION", "", "`region` code, such as US, for a --caller-phone without a country code")
	o.boolVar(&asJSON, "json", "C2CAUTH_CODE_JSON", false, "print JSON instead of the bare code")
	if err := o.parse(args, getenv); err != nil {
		return err
	}

	s, problems := cfg.validate(getenv)
	if connection == "" {
		connection = s.defaultConnection
	}
	sipConnectionID, ok := s.connections[connection]
	if !ok && len(s.connections) > 0 {
		problems = append(problems, fmt.Errorf("--connection %q is not configured; configured connections: %v", connection, connectionNames(s.connections)))
	}
	if callerPhone != "" {
		normalized, err := phone.Normalize(callerPhone, defaultRegion)
		if err != nil {
			problems = append(problems, fmt.Errorf("--caller-phone: %w", err))
		}
		callerPhone = normalized
	}
	if len(problems) > 0 {
		return &usageError{fmt.Errorf("invalid configuration:\n%w", errors.Join(problems...))}
	}

	client := cfg.newClient(s)
	defer client.CloseIdleConnections()
	requestCtx, cancel := context.WithTimeout(ctx, cfg.upstreamTimeout)
	defer cancel()
	code, err := client.GenerateAuthenticationCode(requestCtx, sipConnectionID, callerPhone)
	if err != nil {
		if explained := explainGenerateError(err); explained != err.Error() {
			return fmt.Errorf("connection %q: %s", connection, explained)
		}
		return fmt.Errorf("connection %q: %w", connection, err)
	}

	if !asJSON {
		fmt.Fprintln(stdout, code)
		return nil
	}
	// callerPhone is null when no phone was asserted, as in the emulator's
	// redeem response.
	var assertedPhone *string
	if callerPhone != "" {
		assertedPhone = &callerPhone
	}
	return json.NewEncoder(stdout).Encode(struct {
		AuthenticationCode string  `json:"authenticationCode"`
		Connection         string  `json:"connection"`
		SIPConnectionID    string  `json:"sipConnectionId"`
		CallerPhone        *string `json:"callerPhone"`
	}{code, connection, sipConnectionID, assertedPhone})
}
