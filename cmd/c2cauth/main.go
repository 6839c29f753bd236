// Command c2cauth is the backend that gives a website's visitors AudioCodes
// Live Hub click-to-call authentication codes. Run `c2cauth help` for its
// subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "c2cauth:", err)
	}
	os.Exit(exitCode(err))
}
