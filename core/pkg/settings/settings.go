// Package settings reads the PIXIE_* environment variables that every
// pixie process shares (pixie-core and its plugins): where the stack's
// servers are and their secrets (LoadStack), the decode budget
// (LoadDecode), the log level and durations, each refused with one line
// that names the variable and the fix (Error).
package settings

import (
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Error names the offending variable and how to fix it, so the process can
// print it as its single line of stderr before exiting 2.
type Error struct {
	Var, Value, Fix string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s=%q: %s", e.Var, e.Value, e.Fix)
}

// Defaults and bounds of the decode budget, the same in every process that
// decodes images.
const (
	DefaultDecodeMemory = 512 << 20
	DefaultDecodeWait   = 10 * time.Second
	// MinDecodeMemory keeps the budget above what a phone photo needs.
	MinDecodeMemory = 64 << 20
)

// Decode is the decode budget: PIXIE_DECODE_MEMORY bytes shared by every
// decode of the process, waited for at most PIXIE_DECODE_WAIT.
type Decode struct {
	Memory int64
	Wait   time.Duration
}

// LoadDecode reads the decode budget's settings.
func LoadDecode(getenv func(string) string) (Decode, error) {
	d := Decode{Memory: DefaultDecodeMemory, Wait: DefaultDecodeWait}
	if v := getenv("PIXIE_DECODE_MEMORY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < MinDecodeMemory {
			return d, &Error{"PIXIE_DECODE_MEMORY", v, fmt.Sprintf("use a whole number of bytes of at least %d (64 MiB), e.g. 536870912 for 512 MiB", MinDecodeMemory)}
		}
		d.Memory = n
	}
	err := LoadDurations(getenv, Duration{"PIXIE_DECODE_WAIT", "10s", &d.Wait})
	return d, err
}

// runtimeHeadroom is the Go soft memory limit above the decode budget, for
// everything that is not a decode: buffers, caches, the runtime.
const runtimeHeadroom = 64 << 20

// SetMemoryLimit sets Go's soft memory limit to the decode budget plus
// 64 MiB, unless GOMEMLIMIT is set: decodes leave large garbage behind, and
// without a limit the collector lets the heap reach twice what is live.
func (d Decode) SetMemoryLimit(getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(d.Memory + runtimeHeadroom)
	}
}

// Duration is a variable holding a positive Go duration, the example its
// error shows, and where it goes (which holds its default).
type Duration struct {
	Name, Example string
	Dst           *time.Duration
}

// LoadDurations reads each set variable of ds into its destination.
func LoadDurations(getenv func(string) string, ds ...Duration) error {
	for _, d := range ds {
		if v := getenv(d.Name); v != "" {
			n, err := time.ParseDuration(v)
			if err != nil || n <= 0 {
				return &Error{d.Name, v, "use a positive Go duration, e.g. " + d.Example}
			}
			*d.Dst = n
		}
	}
	return nil
}

// LoadLogLevel reads PIXIE_LOG_LEVEL (default info).
func LoadLogLevel(getenv func(string) string) (slog.Level, error) {
	v := getenv("PIXIE_LOG_LEVEL")
	switch strings.ToLower(v) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, &Error{"PIXIE_LOG_LEVEL", v, "use one of debug, info, warn, error"}
}

// LoadAddr reads a listen address (host:port or :port) into dst, which
// holds its default.
func LoadAddr(getenv func(string) string, name, example string, dst *string) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return &Error{name, v, "use host:port or :port with a port in 0..65535, e.g. " + example}
	}
	*dst = v
	return nil
}

// HealthcheckURL is the URL a process's healthcheck subcommand probes:
// always loopback, on the port of the listen address addr.
func HealthcheckURL(addr, path string) string {
	_, port, _ := net.SplitHostPort(addr) // validated by LoadAddr
	return "http://" + net.JoinHostPort("127.0.0.1", port) + path
}
