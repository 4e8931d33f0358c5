// Package buildinfo says which weir this is: the version and commit the
// Makefile stamps into the binary with -ldflags (from git describe), or,
// for a plain `go build`/`go install`, what the Go toolchain recorded
// (the module version and the VCS revision in runtime/debug.BuildInfo).
package buildinfo

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Set with -ldflags "-X github.com/weirlog/weir/internal/buildinfo.version=…
// -X github.com/weirlog/weir/internal/buildinfo.commit=…".
var (
	version string
	commit  string
)

// base is the version of a build nobody stamped (a development build).
const base = "0.1.0-dev"

var once sync.Once

func resolve() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	if commit == "" {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified == "true" {
			rev += "-dirty"
		}
		commit = rev
	}
}

// Version is weir's version, e.g. "v0.1.0-14-g3f2a9c1" (git describe) or
// "0.1.0-dev" for an unstamped build.
func Version() string {
	once.Do(resolve)
	if version == "" {
		return base
	}
	return strings.TrimSpace(version)
}

// Commit is the commit weir was built from, or "unknown".
func Commit() string {
	once.Do(resolve)
	if commit == "" {
		return "unknown"
	}
	return strings.TrimSpace(commit)
}
