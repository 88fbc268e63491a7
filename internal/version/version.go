// Package version tells which build of Sluice is running: the release
// version, commit and build date stamped by GoReleaser through -ldflags, or,
// for a plain `go build` / `go install`, what the Go toolchain recorded in
// the binary (module version, vcs.revision, vcs.time).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Stamped by the release build:
//
//	-X github.com/sluicehq/sluice/internal/version.version={{.Version}}
//	-X github.com/sluicehq/sluice/internal/version.commit={{.Commit}}
//	-X github.com/sluicehq/sluice/internal/version.date={{.Date}}
//
// Empty in any other build.
var (
	version string
	commit  string
	date    string
)

// Unknown is shown for a field neither the release build nor the Go
// toolchain recorded.
const Unknown = "unknown"

// Info describes a build.
type Info struct {
	// Version is the release version ("1.2.0"), the module version of a
	// `go install ...@v1.2.0`, or "(devel)" for a build from a checkout.
	Version string `json:"version"`
	// Commit is the git commit the binary was built from.
	Commit string `json:"commit"`
	// Date is when the binary was built (release builds) or when the commit
	// was made (toolchain builds), RFC 3339.
	Date string `json:"date"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve prefers the stamped values and fills the rest from bi (nil when the
// binary carries no build information).
func resolve(ver, rev, when string, bi *debug.BuildInfo) Info {
	info := Info{Version: ver, Commit: rev, Date: when, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			info.Commit = setting(bi, "vcs.revision")
			if info.Commit != "" && setting(bi, "vcs.modified") == "true" {
				info.Commit += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = setting(bi, "vcs.time")
		}
	}
	for _, f := range []*string{&info.Version, &info.Commit, &info.Date} {
		if *f == "" {
			*f = Unknown
		}
	}
	return info
}

func setting(bi *debug.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// String is the one-line form `sluice --version` prints.
func (i Info) String() string {
	return fmt.Sprintf("sluice %s (commit %s, built %s, %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}
