package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// maxConfigFileSize bounds the configuration file that is read.
const maxConfigFileSize = 1 << 20

// readConfigFile reads a YAML (.yaml, .yml) or TOML (.toml) file of
// top-level keys named like the flags without dashes, such as
// `limit-user: 5/1m`, and returns each value as the text a flag would take.
// A list becomes a comma-separated value.
func readConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if len(data) > maxConfigFileSize {
		return nil, fmt.Errorf("--config %q is larger than %d bytes", path, maxConfigFileSize)
	}

	raw := make(map[string]any)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &raw)
	case ".toml":
		err = toml.Unmarshal(data, &raw)
	default:
		return nil, fmt.Errorf("--config %q must end in .yaml, .yml or .toml", path)
	}
	if err != nil {
		return nil, fmt.Errorf("--config %q: %w", path, err)
	}

	values := make(map[string]string, len(raw))
	var problems []error
	for key, value := range raw {
		text, err := configValue(value)
		if err != nil {
			problems = append(problems, fmt.Errorf("--config %q: key %q: %w", path, key, err))
			continue
		}
		values[key] = text
	}
	return values, errors.Join(problems...)
}

// configValue turns a decoded YAML or TOML value into flag text.
func configValue(value any) (string, error) {
	switch v := value.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case []any:
		items := make([]string, 0, len(v))
		for _, item := range v {
			text, err := configValue(item)
			if err != nil || strings.Contains(text, ",") {
				return "", errors.New("a list may hold only plain values without commas")
			}
			items = append(items, text)
		}
		return strings.Join(items, ","), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("unsupported value of type %T; use a string, number, boolean or list", value)
	}
}

// applyConfigFile sets every flag named in the file that neither the command
// line nor the environment set. Keys that name no flag of this subcommand
// are errors, unless they belong to another subcommand (listed in shared),
// so one file can serve `serve`, `check` and `code`.
func (o *options) applyConfigFile(path string, setElsewhere map[string]bool, shared []string) error {
	values, err := readConfigFile(path)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(values))
	for key := range values {
		keys = append(keys, key)
	}
	slices.Sort(keys)

	var problems []error
	for _, key := range keys {
		switch {
		case key == "config":
			problems = append(problems, fmt.Errorf("--config %q: a configuration file cannot name another one", path))
			continue
		case key == "client-secret" && o.fs.Lookup(key) == nil:
			problems = append(problems, fmt.Errorf("--config %q: the client secret cannot be in the configuration file; put it in its own file and set client-secret-file", path))
			continue
		}
		if o.fs.Lookup(key) == nil || slices.Contains(o.commandLineOnly, key) {
			if !slices.Contains(shared, key) {
				problems = append(problems, fmt.Errorf("--config %q: unknown key %q; keys are the option names without the leading dashes, as `c2cauth %s --help` lists them", path, key, o.fs.Name()))
			}
			continue
		}
		if setElsewhere[key] || values[key] == "" {
			continue
		}
		if err := o.fs.Set(key, values[key]); err != nil {
			problems = append(problems, fmt.Errorf("--config %q: invalid value %q for %s: %w", path, values[key], key, err))
			continue
		}
		setElsewhere[key] = true
		o.sources[key] = "--config " + path
	}
	return errors.Join(problems...)
}
