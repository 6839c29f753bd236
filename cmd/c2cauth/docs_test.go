package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"
)

// TestConfigurationReference checks that docs/configuration.md documents
// every option of every subcommand, with its environment variable.
func TestConfigurationReference(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range commands() {
		var stdout, stderr bytes.Buffer
		err := cmd.run(context.Background(), []string{"--help"}, func(string) string { return "" }, &stdout, &stderr)
		if err != flag.ErrHelp {
			t.Fatalf("%s --help: got %v, want flag.ErrHelp", cmd.name, err)
		}
		for _, line := range strings.Split(stdout.String(), "\n") {
			if !strings.HasPrefix(line, "  -") {
				continue
			}
			name := strings.Fields(strings.TrimPrefix(line, "  -"))[0]
			if !bytes.Contains(doc, []byte("`--"+name+"`")) {
				t.Errorf("docs/configuration.md does not document `--%s` of %s", name, cmd.name)
			}
		}
		for _, env := range envNames(stdout.String()) {
			if !bytes.Contains(doc, []byte("`"+env+"`")) {
				t.Errorf("docs/configuration.md does not document `%s` of %s", env, cmd.name)
			}
		}
	}
}

// envNames returns the environment variables that help text names as
// "(env NAME)".
func envNames(help string) []string {
	var names []string
	for _, part := range strings.Split(help, "(env ")[1:] {
		if name, _, ok := strings.Cut(part, ")"); ok {
			names = append(names, name)
		}
	}
	return names
}

// TestEveryOptionHasEnvironmentVariable checks the help of every subcommand
// for options without an environment variable.
func TestEveryOptionHasEnvironmentVariable(t *testing.T) {
	for _, cmd := range commands() {
		var stdout, stderr bytes.Buffer
		err := cmd.run(context.Background(), []string{"--help"}, func(string) string { return "" }, &stdout, &stderr)
		if err != flag.ErrHelp {
			t.Fatalf("%s --help: got %v, want flag.ErrHelp", cmd.name, err)
		}
		// Each option starts a block at "  -name" that runs to the next one.
		blocks := strings.Split(stdout.String(), "\n  -")[1:]
		for _, block := range blocks {
			if !strings.Contains(block, "(env ") {
				t.Errorf("%s: option -%s has no environment variable", cmd.name, strings.Fields(block)[0])
			}
		}
	}
}
