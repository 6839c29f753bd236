// Command bench measures what c2cauth costs over the smallest correct
// backend that does the same job, on one machine, in one run.
//
// It starts three things, all on 127.0.0.1. Live Hub emulators run inside
// this process. The baseline is a bare backend that holds a cached access
// token, forwards each request to Live Hub and returns the code. It runs
// as a subprocess of this program, through the hidden "baseline"
// subcommand. c2cauth itself is built from ./cmd/c2cauth and runs as
// `c2cauth serve` the way a production site runs it: JWT sign-in with a
// static key, an allowed origin, limits, and JSON logs to a file.
//
// The benchmark drives both backends, and an emulator on its own as the
// floor, with the same load from vegeta, alternating between them. It
// prints a Markdown report of throughput, latency at fixed rates, CPU time
// per request, token requests, peak memory and goroutines, and whether
// each target is met.
//
// Run it from the module root:
//
//	go run ./bench -out bench-report.md
//
// The emulator, the load generator and both backends share the machine's
// cores, so the figures describe the whole local stack rather than a
// backend alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run runs the benchmark, or the baseline backend when args start with
// "baseline".
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == baselineCommand {
		return runBaseline(ctx, args[1:], getenv, stdout, stderr)
	}
	return runBenchmark(ctx, args, stdout, stderr)
}
