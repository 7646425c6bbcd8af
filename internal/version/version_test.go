package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1023bfc6a4d2e0f1a2b3c4d5e6f708192a3b4c5d"},
		{Key: "vcs.time", Value: "2026-12-03T08:30:45Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := describe(info), "v0.3.0 (commit 1023bfc6a4d2, 2026-12-03T08:30:45Z, modified) go1.26.8"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	if got := describe(&debug.BuildInfo{}); got != "(devel) "+runtime.Version() {
		t.Errorf("no build info: %q", got)
	}
	if s := String(); !strings.HasSuffix(s, runtime.Version()) {
		t.Errorf("String() = %q, want it to end with the Go version", s)
	}
}
