package version

import (
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveStampedWins(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-devel"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2020-01-01T00:00:00Z"},
	}}
	got := resolve("1.2.3", "deadbeef", "2026-12-06T10:00:00Z", bi)
	want := Info{Version: "1.2.3", Commit: "deadbeef", Date: "2026-12-06T10:00:00Z", GoVersion: "go1.26.0", Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if got != want {
		t.Errorf("resolve = %+v, want %+v", got, want)
	}
}

func TestResolveFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-30T08:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := resolve("", "", "", bi)
	if got.Version != "v1.4.0" || got.Commit != "0123abcd-dirty" || got.Date != "2026-11-30T08:00:00Z" || got.GoVersion != "go1.26.1" {
		t.Errorf("resolve = %+v", got)
	}
}

func TestResolveNothingKnown(t *testing.T) {
	got := resolve("", "", "", nil)
	if got.Version != Unknown || got.Commit != Unknown || got.Date != Unknown || got.GoVersion != runtime.Version() {
		t.Errorf("resolve = %+v", got)
	}
	if s := got.String(); !strings.HasPrefix(s, "sluice unknown (commit unknown, built unknown, go") {
		t.Errorf("String() = %q", s)
	}
}

// TestLdflagsStamp builds a program with the release build's -X flags and
// checks that Get reports them: the variable names GoReleaser sets exist.
func TestLdflagsStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	bin := dir + "/sluice"
	pkg := "github.com/sluicehq/sluice/internal/version"
	ld := "-X " + pkg + ".version=9.8.7 -X " + pkg + ".commit=c0ffee -X " + pkg + ".date=2026-12-06T00:00:00Z"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("sluice --version: %v", err)
	}
	want := "sluice 9.8.7 (commit c0ffee, built 2026-12-06T00:00:00Z, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if string(out) != want {
		t.Errorf("sluice --version = %q, want %q", out, want)
	}
}
