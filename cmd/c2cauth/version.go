package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

func runVersion(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	o := newOptions("version", "Print the version of c2cauth.", stdout, stderr)
	if err := o.parse(args, getenv); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "c2cauth %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// buildVersion returns the version and, when known, the VCS revision.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, setting := range info.Settings {
		if setting.Key == "vcs.revision" && len(setting.Value) >= 12 {
			v += " " + setting.Value[:12]
		}
	}
	return v
}
