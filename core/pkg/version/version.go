// Package version describes the build of a pixie binary (pixie-core, a
// plugin) as `version` subcommands and /version endpoints print it. Each
// module stamps its own internal/buildinfo variables at link time
// (-ldflags -X), so a version bump stays a change of that module alone.
package version

import "runtime"

// Info is the JSON shape of a build's description.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
}

// Describe is the build stamped with version, commit and date, compiled by
// the running Go.
func Describe(version, commit, date string) Info {
	return Info{Version: version, Commit: commit, BuildTime: date, GoVersion: runtime.Version()}
}
