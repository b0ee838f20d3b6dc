package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

func init() {
	register(&command{
		name:    "version",
		summary: "print the gatehouse version",
		run: func(ctx context.Context, env *cmdEnv, args []string) int {
			fs := newFlagSet(env, "version", "version")
			if code := parseFlags(env, fs, args); code >= 0 {
				return code
			}
			fmt.Fprintf(env.stdout, "gatehouse %s %s %s/%s\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return 0
		},
	})
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
