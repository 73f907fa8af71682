// Package buildinfo carries the version stamped into the binary at link time:
//
//	go build -ldflags "-X github.com/pixie-photos/pixie/core/internal/buildinfo.Version=v1.2.3 ..."
package buildinfo

import "runtime"

// These are variables, not constants, so that -ldflags -X can overwrite them.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info is the JSON shape served by GET /version.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
}

// Get returns the build information of the running binary.
func Get() Info {
	return Info{Version: Version, Commit: Commit, BuildTime: Date, GoVersion: runtime.Version()}
}
