package budget

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/pixie-photos/pixie/core/pkg/imaging"
)

// A decode child is this very binary started with childEnv set: before
// main runs, this package's init reads one job from stdin (a JSON line,
// then the image), caps its own data segment, decodes, answers on stdout
// (a JSON line, then the thumbnail if asked for) and exits.
const childEnv = "PIXIE_DECODE_CHILD"

// self is the running binary, even if its file has been replaced since.
const self = "/proc/self/exe"

// Beyond the decoder's own allocations, a child's heap holds the image's
// bytes and the runtime's heap metadata, plus the garbage the collector
// has not yet reused (it runs with a soft limit at its heap, so it collects
// harder rather than growing past it). Beyond its heap, it touches some of
// the binary's pages and has stacks: childProcess, which the reservation
// also counts. Its data segment may exceed its start by heap+mapSlack: the
// heap grows in 4 MiB steps, and each 64 MiB arena brings its own metadata.
const (
	heapSlack    = 8 << 20
	childProcess = 8 << 20
	mapSlack     = 16 << 20
)

func childHeap(cost int64, data int) int64 { return cost + int64(data) + heapSlack }

const (
	opCheck     = "check"
	opThumbnail = "thumbnail"
)

type job struct {
	Op          string `json:"op"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size,omitempty"`
	Length      int    `json:"length"`
	Heap        int64  `json:"heap"`
}

type reply struct {
	Error string `json:"error,omitempty"`
	// Kind names the imaging sentinel that Error wraps.
	Kind string `json:"kind,omitempty"`
	// PeakRSS is the child's peak resident memory less the binary's pages
	// it had mapped at start, which every process of this binary shares.
	PeakRSS int64 `json:"peak_rss"`
}

var kinds = map[string]error{"corrupt": imaging.ErrCorrupt, "unsupported": imaging.ErrUnsupported, "pixels": imaging.ErrTooManyPixels}

type childResult struct {
	out     []byte
	peakRSS int64
}

// errChildMemory means the child reached its memory limit and died.
var errChildMemory = errors.New("the decode child reached its memory limit")

func init() {
	if os.Getenv(childEnv) == "" {
		return
	}
	if err := serveChild(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "decode child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild decodes data in a child process as j says.
func runChild(ctx context.Context, j job, data []byte) (childResult, error) {
	j.Length = len(data)
	line, err := json.Marshal(j)
	if err != nil {
		return childResult{}, err
	}
	cmd := exec.CommandContext(ctx, self)
	// One thread runs the decoder; more would only count against the
	// container's pids limit. Its stderr is the first line of a crash.
	cmd.Env = append([]string{childEnv + "=1", "GOMAXPROCS=1", "GOTRACEBACK=none"}, raceEnv...)
	cmd.Stdin = io.MultiReader(bytes.NewReader(append(line, '\n')), bytes.NewReader(data))
	var stdout bytes.Buffer
	stderr := &head{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	dieWithParent(cmd)
	var res childResult
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		// Out of processes or memory for one: a later try can succeed.
		return res, fmt.Errorf("%w: could not start a decode process: %v", ErrBusy, err)
	}
	runErr := cmd.Wait()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.peakRSS = ru.Maxrss << 10
		}
	}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case runErr != nil && outOfMemory(stderr.String()):
		return res, fmt.Errorf("%w: %s", errChildMemory, stderr.first())
	case runErr != nil && strings.Contains(stderr.String(), "panic: "):
		return res, fmt.Errorf("%w: the decoder crashed on it: %s", imaging.ErrCorrupt, stderr.first())
	case runErr != nil:
		return res, fmt.Errorf("decode child: %v: %s", runErr, stderr.first())
	}
	head, out, _ := bytes.Cut(stdout.Bytes(), []byte("\n"))
	var rep reply
	if err := json.Unmarshal(head, &rep); err != nil {
		return res, fmt.Errorf("decode child answered %q: %v", head, err)
	}
	res.out, res.peakRSS = out, rep.PeakRSS
	if rep.Error != "" {
		if sentinel, ok := kinds[rep.Kind]; ok {
			return res, fmt.Errorf("%w: %s", sentinel, rep.Error)
		}
		return res, errors.New(rep.Error)
	}
	return res, nil
}

func outOfMemory(stderr string) bool {
	for _, s := range []string{"out of memory", "cannot allocate memory", "failed to allocate"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// serveChild runs one job in this process, the decode child.
func serveChild(in io.Reader, out io.Writer) error {
	start, err := status()
	if err != nil {
		return err
	}
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	var j job
	if err := json.Unmarshal(line, &j); err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	// From here on the file's bytes decide what is allocated: cap it.
	limit := uint64(start["VmData"] + raceShadow*j.Heap + mapSlack)
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fmt.Errorf("limit memory: %w", err)
	}
	debug.SetMemoryLimit(j.Heap)
	data := make([]byte, j.Length)
	if _, err := io.ReadFull(r, data); err != nil {
		return fmt.Errorf("read image: %w", err)
	}
	var rep reply
	var thumb []byte
	img, err := imaging.Decode(data, j.ContentType)
	if err == nil && j.Op == opThumbnail {
		thumb, _, _, err = imaging.ThumbnailJPEG(img, j.Size)
	}
	if err != nil {
		rep.Error = err.Error()
		for kind, sentinel := range kinds {
			if errors.Is(err, sentinel) {
				rep.Kind = kind
			}
		}
	}
	end, err := status()
	if err != nil {
		return err
	}
	rep.PeakRSS = end["VmHWM"] - start["RssFile"]
	head, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(append(head, '\n'), thumb...)); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	return nil
}

// status reads the memory fields of /proc/self/status, in bytes.
func status() (map[string]int64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	fields := map[string]int64{}
	for line := range strings.Lines(string(raw)) {
		name, value, ok := strings.Cut(line, ":")
		if kb, found := strings.CutSuffix(strings.TrimSpace(value), " kB"); ok && found {
			n, err := strconv.ParseInt(kb, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/self/status %s: %w", name, err)
			}
			fields[name] = n << 10
		}
	}
	return fields, nil
}

// head keeps the first max bytes written to it: where the runtime says
// why it died.
type head struct {
	max int
	buf []byte
}

func (h *head) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p[:min(len(p), h.max-len(h.buf))]...)
	return len(p), nil
}

func (h *head) String() string { return string(h.buf) }

// first is the first line written.
func (h *head) first() string {
	line, _, _ := strings.Cut(strings.TrimSpace(h.String()), "\n")
	return line
}
