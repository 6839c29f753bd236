package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// options is a flag set in which every flag may also come from an
// environment variable. A flag on the command line beats the environment.
type options struct {
	fs     *flag.FlagSet
	env    map[string]string // flag name to environment variable
	stdout io.Writer

	// configPath is the --config file, when the subcommand reads one.
	configPath *string
	// sharedKeys are configuration file keys of other subcommands, which
	// this one ignores.
	sharedKeys []string
	// commandLineOnly are options that the configuration file never sets,
	// because the file's key of that name means something else to serve.
	commandLineOnly []string

	// set holds the options that a flag, the environment or the
	// configuration file set, once parse has run.
	set map[string]bool
	// sources names where each option that is not on the command line got
	// its value, such as "C2CAUTH_LIMIT_IP", once parse has run.
	sources map[string]string
}

// configFile adds --config, with the environment variable env, whose YAML
// or TOML file supplies every option that neither a flag nor the
// environment sets.
func (o *options) configFile(env string, sharedKeys []string) {
	o.configPath = new(string)
	o.sharedKeys = sharedKeys
	o.stringVar(o.configPath, "config", env, "", "YAML or TOML `file` of options, keyed by option name; flags and environment variables override it")
}

// newOptions returns an empty flag set for the subcommand name. Help goes
// to stdout, because the user asked for it; parse errors go to stderr.
func newOptions(name, summary string, stdout, stderr io.Writer) *options {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{fs: fs, env: make(map[string]string), stdout: stdout}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: c2cauth %s [options]\n\n%s\n\nOptions:\n", name, summary)
		fs.PrintDefaults()
	}
	return o
}

// helpRequested reports whether args ask for help before any other
// argument ends flag parsing.
func helpRequested(args []string) bool {
	for _, arg := range args {
		switch arg {
		case "-h", "-help", "--help", "--h":
			return true
		case "--":
			return false
		}
	}
	return false
}

func (o *options) describe(name, env, usage string) string {
	if env == "" {
		return usage
	}
	o.env[name] = env
	return usage + " (env " + env + ")"
}

func (o *options) stringVar(p *string, name, env, value, usage string) {
	o.fs.StringVar(p, name, value, o.describe(name, env, usage))
}

func (o *options) boolVar(p *bool, name, env string, value bool, usage string) {
	o.fs.BoolVar(p, name, value, o.describe(name, env, usage))
}

func (o *options) durationVar(p *time.Duration, name, env string, value time.Duration, usage string) {
	o.fs.DurationVar(p, name, value, o.describe(name, env, usage))
}

func (o *options) listVar(p *[]string, name, env, usage string) {
	o.fs.Func(name, o.describe(name, env, usage), func(s string) error {
		*p = append(*p, splitList(s)...)
		return nil
	})
}

// parse reads args, then fills every flag absent from args from its
// environment variable, then from the --config file. It returns a
// *usageError for bad input and flag.ErrHelp for -h.
func (o *options) parse(args []string, getenv getenvFunc) error {
	if helpRequested(args) {
		o.fs.SetOutput(o.stdout)
	}
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if o.fs.NArg() > 0 {
		return &usageError{fmt.Errorf("unexpected argument %q", o.fs.Arg(0))}
	}

	onCommandLine := make(map[string]bool)
	o.fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var problems []error
	setElsewhere := onCommandLine
	sources := make(map[string]string)
	o.sources = sources
	o.fs.VisitAll(func(f *flag.Flag) {
		env := o.env[f.Name]
		if env == "" || onCommandLine[f.Name] {
			return
		}
		value := getenv(env)
		if value == "" {
			return
		}
		setElsewhere[f.Name] = true
		sources[f.Name] = env
		if err := o.fs.Set(f.Name, value); err != nil {
			problems = append(problems, fmt.Errorf("invalid value %q for %s: %w", value, env, err))
		}
	})
	if o.configPath != nil && *o.configPath != "" {
		if err := o.applyConfigFile(*o.configPath, setElsewhere, o.sharedKeys); err != nil {
			problems = append(problems, err)
		}
	}
	o.set = setElsewhere
	if err := errors.Join(problems...); err != nil {
		return &usageError{err}
	}
	return nil
}

// splitList splits a comma-separated list and drops empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// optionName finds the options that a problem's message names.
var optionName = regexp.MustCompile(`--([a-z0-9-]+)`)

// withSource adds to problem where each option it names got its value, when
// that was not the command line, so that the operator knows what to edit.
func (o *options) withSource(problem error) error {
	var sources []string
	seen := make(map[string]bool)
	for _, m := range optionName.FindAllStringSubmatch(problem.Error(), -1) {
		name := m[1]
		if seen[name] || o.sources[name] == "" {
			continue
		}
		seen[name] = true
		sources = append(sources, "--"+name+" set by "+o.sources[name])
	}
	if len(sources) == 0 {
		return problem
	}
	return fmt.Errorf("%w (%s)", problem, strings.Join(sources, "; "))
}
