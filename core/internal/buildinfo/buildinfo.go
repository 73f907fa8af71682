// Package buildinfo carries the version stamped into the binary at link time:
//
//	go build -ldflags "-X github.com/pixie-photos/pixie/core/internal/buildinfo.Version=v1.2.3 ..."
package buildinfo

import "github.com/pixie-photos/pixie/core/pkg/version"

// These are variables, not constants, so that -ldflags -X can overwrite them.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Get returns the build information of the running binary.
func Get() version.Info { return version.Describe(Version, Commit, Date) }
