package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// tokenLifetime is how long the visitor's bearer token stays valid. It
// outlasts the longest allowed run.
const tokenLifetime = 2 * time.Hour

// settleTime is how long the benchmark waits after the last run before it
// reads goroutine counts, so that the closed connections' goroutines end.
const settleTime = 2 * time.Second

// settings are the benchmark's options.
type settings struct {
	rounds        int
	maxDuration   time.Duration // each closed-loop run
	fixedDuration time.Duration // each fixed-rate run
	workers       int           // closed-loop concurrency
	rates         []int         // fixed rates, requests a second
	warmup        time.Duration // per backend, before the first round
	pause         time.Duration // between runs
	timeout       time.Duration // the whole benchmark
	out           string
	c2cauthBinary string
	keep          bool
	cpuProfile    string // file for c2cauth's CPU profile; empty means none
}

func parseSettings(args []string, stderr io.Writer) (settings, error) {
	s := settings{rates: []int{500, 2000}}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./bench [options]\n\nMeasure c2cauth against a bare baseline backend and a Live Hub emulator on 127.0.0.1.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&s.rounds, "rounds", 2, "`number` of rounds; each round measures every target, and the order reverses from one round to the next")
	fs.DurationVar(&s.maxDuration, "max-duration", 10*time.Second, "`duration` of each maximum-throughput run")
	fs.DurationVar(&s.fixedDuration, "duration", 8*time.Second, "`duration` of each fixed-rate run")
	fs.IntVar(&s.workers, "workers", 32, "`number` of concurrent requests in maximum-throughput runs")
	fs.Func("rates", "fixed `rates` in requests a second, comma-separated (default 500,2000)", func(v string) error {
		rates, err := parseRates(v)
		s.rates = rates
		return err
	})
	fs.DurationVar(&s.warmup, "warmup", 2*time.Second, "`duration` of the warm-up of each backend at the first fixed rate")
	fs.DurationVar(&s.pause, "pause", time.Second, "`duration` of the pause between runs")
	fs.DurationVar(&s.timeout, "timeout", 4*time.Minute+30*time.Second, "maximum `duration` of the whole benchmark")
	fs.StringVar(&s.out, "out", "", "also write the Markdown report to this `file`")
	fs.StringVar(&s.c2cauthBinary, "c2cauth", "", "c2cauth binary `file` to measure instead of building ./cmd/c2cauth")
	fs.StringVar(&s.cpuProfile, "cpuprofile", "", "write a CPU profile of c2cauth during its first maximum-throughput run to this `file`, read with go tool pprof")
	fs.BoolVar(&s.keep, "keep", false, "keep the temporary directory with the c2cauth log")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return s, s.validate()
}

func parseRates(v string) ([]int, error) {
	var rates []int
	for field := range strings.SplitSeq(v, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || rate <= 0 {
			return nil, fmt.Errorf("rate %q is not a positive whole number", field)
		}
		rates = append(rates, rate)
	}
	return rates, nil
}

func (s settings) validate() error {
	var problems []error
	if s.rounds < 1 || s.rounds > 10 {
		problems = append(problems, fmt.Errorf("-rounds %d must be from 1 to 10", s.rounds))
	}
	if s.workers < 1 || s.workers > maxOpenLoopWorkers {
		problems = append(problems, fmt.Errorf("-workers %d must be from 1 to %d", s.workers, maxOpenLoopWorkers))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"-max-duration", s.maxDuration}, {"-duration", s.fixedDuration}, {"-warmup", s.warmup}, {"-pause", s.pause}} {
		if d.value < 0 || d.value > time.Minute {
			problems = append(problems, fmt.Errorf("%s %s must be from 0 to 1m", d.name, d.value))
		}
	}
	if s.maxDuration == 0 || s.fixedDuration == 0 {
		problems = append(problems, errors.New("-max-duration and -duration must be positive"))
	}
	if len(s.rates) == 0 {
		problems = append(problems, errors.New("-rates needs at least one rate"))
	}
	if s.timeout <= 0 || s.timeout > 30*time.Minute {
		problems = append(problems, fmt.Errorf("-timeout %s must be positive and at most 30m", s.timeout))
	}
	if estimate := s.estimate(); estimate > s.timeout {
		problems = append(problems, fmt.Errorf("the runs take about %s, more than -timeout %s", estimate.Round(time.Second), s.timeout))
	}
	return errors.Join(problems...)
}

// estimate returns how long the runs take, without the build and start-up:
// in each round a closed-loop run of each backend, and a run of each of
// the three targets at each fixed rate.
func (s settings) estimate() time.Duration {
	perRound := 2*(s.maxDuration+s.pause) + 3*time.Duration(len(s.rates))*(s.fixedDuration+s.pause)
	return time.Duration(s.rounds)*perRound + 2*s.warmup + settleTime
}

// runBenchmark starts the stack, measures both backends and prints the
// report.
func runBenchmark(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := parseSettings(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	progress("the runs take about %s after start-up", s.estimate().Round(time.Second))

	dir, err := os.MkdirTemp("", "c2cauth-bench-")
	if err != nil {
		return err
	}
	if s.keep {
		defer progress("kept %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	st, err := startStack(ctx, s, dir, progress)
	if err != nil {
		return err
	}
	defer st.close()

	r := &report{settings: s, machine: readMachine(), started: time.Now(), resources: make(map[string]resources)}
	if err := st.measure(ctx, s, r, progress); err != nil {
		return err
	}
	if err := st.inspect(ctx, r, progress); err != nil {
		return err
	}

	text := r.markdown()
	io.WriteString(stdout, text)
	if s.out != "" {
		if err := os.WriteFile(s.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		progress("report written to %s", s.out)
	}
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
