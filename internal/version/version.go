// Package version describes the running binary for --version: its module version and the
// version-control revision it was built from, as the Go toolchain stamped them.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// String is the version line of the binary: module version, commit (with its time, and
// "modified" when the work tree had changes) and Go version, such as
// "v0.3.0 (commit 1023bfc6a4d2, 2026-12-03T08:30:45Z) go1.26.8".
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown " + runtime.Version()
	}
	return describe(info)
}

// describe formats build information.
func describe(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
	if rev := settings["vcs.revision"]; rev != "" {
		vcs = append(vcs, "commit "+rev[:min(len(rev), 12)])
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	if settings["vcs.modified"] == "true" {
		vcs = append(vcs, "modified")
	}
	if len(vcs) > 0 {
		v += " (" + strings.Join(vcs, ", ") + ")"
	}
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return v + " " + goVersion
}
