package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is a mistake on the command line or in the configuration. The
// program exits with status 2 for it, as flag parsing does.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCode maps the error of run to the process exit status.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		return 2
	default:
		return 1
	}
}

// command is one subcommand of c2cauth.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env getenvFunc, stdout, stderr io.Writer) error
}

// getenvFunc reads an environment variable, as os.Getenv does. Tests pass
// their own, so the program never depends on the test process's environment.
type getenvFunc func(string) string

func commands() []command {
	return []command{
		{"serve", "serve auth codes for a website against Live Hub", runServe},
		{"dev", "run the backend, a Live Hub emulator and a demo page with no configuration", runDev},
		{"emulator", "run the Live Hub emulator alone", runEmulator},
		{"check", "validate the configuration and obtain a Live Hub access token", runCheck},
		{"code", "request one authentication code from the command line", runCode},
		{"version", "print the version", runVersion},
	}
}

// run is the whole program: args are os.Args, and it returns when the
// subcommand ends or ctx is cancelled.
func run(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		printUsage(stderr)
		return &usageError{errors.New("missing subcommand")}
	}
	name := args[1]
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(ctx, args[2:], getenv, stdout, stderr)
		}
	}
	printUsage(stderr)
	return &usageError{fmt.Errorf("unknown subcommand %q", name)}
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage: c2cauth <subcommand> [options]\n\nSubcommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	b.WriteString("\nRun `c2cauth <subcommand> --help` for the options of one subcommand.\n")
	io.WriteString(w, b.String())
}
