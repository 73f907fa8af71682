package stacktest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// Binary builds the workspace's main package pkg (an import path, e.g.
// github.com/pixie-photos/pixie/core/cmd/pixie-core) once per test
// process, without the race detector, as it runs in production. Main
// removes it at the end.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "pixie-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	bin := filepath.Join(buildDir, path.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Service describes a pixie process to start: its binary and settings,
// the message of its JSON log line that says it serves, and the field of
// that line holding the HTTP address whose ReadyPath (default /readyz)
// answers 200 once it is ready.
type Service struct {
	Binary     string
	Env        []string
	ServingMsg string
	AddrField  string
	ReadyPath  string
}

// Process is a running pixie process (pixie-core, a plugin), its log kept
// line by line.
type Process struct {
	name string
	cmd  *exec.Cmd
	// Serving is the log line that said it serves, as decoded JSON.
	Serving map[string]any
	exited  chan struct{}

	mu      sync.Mutex
	lines   []string
	newLine chan struct{} // closed and replaced at every line
}

// Start runs the service on free loopback ports (its env sets them) and
// waits until it logged ServingMsg and its ReadyPath answers 200. It dies
// with the test process; its cleanup kills it and logs its output if the
// test failed.
func Start(t testing.TB, s Service) *Process {
	t.Helper()
	p := &Process{name: filepath.Base(s.Binary), exited: make(chan struct{}), newLine: make(chan struct{})}
	p.cmd = exec.Command(s.Binary)
	p.cmd.Env = append(os.Environ(), s.Env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readLog(stderr)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", p.name, p.Log())
		}
	})
	p.Serving = p.WaitLog(t, 30*time.Second, func(line map[string]any) bool { return line["msg"] == s.ServingMsg })
	if s.ReadyPath == "" {
		s.ReadyPath = "/readyz"
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready("http://" + p.Field(s.AddrField) + s.ReadyPath) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 30 s:\n%s", p.name, p.Log())
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting
	}
	return p
}

// Field is a string field of the serving line.
func (p *Process) Field(name string) string {
	v, _ := p.Serving[name].(string)
	return v
}

func (p *Process) readLog(r io.Reader) {
	defer close(p.exited)
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, lines.Text())
		close(p.newLine)
		p.newLine = make(chan struct{})
		p.mu.Unlock()
	}
	_ = p.cmd.Wait()
}

// WaitLog waits for a JSON log line that match accepts, looking at every
// line since the start, and returns it; the test fails after timeout or
// when the process exits first.
func (p *Process) WaitLog(t testing.TB, timeout time.Duration, match func(line map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines, next := p.lines[seen:], p.newLine
		seen = len(p.lines)
		p.mu.Unlock()
		for _, text := range lines {
			var line map[string]any
			if json.Unmarshal([]byte(text), &line) == nil && match(line) {
				return line
			}
		}
		select {
		case <-next:
		case <-p.exited:
			t.Fatalf("%s exited (%v) before the awaited log line:\n%s", p.name, p.cmd.ProcessState, p.Log())
		case <-deadline:
			t.Fatalf("%s did not log the awaited line within %v:\n%s", p.name, timeout, p.Log())
		}
	}
}

func ready(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Log is what the process wrote so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Kill kills the process (SIGKILL: no cleanup of any kind) and waits.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop asks the process to shut down (SIGTERM), waits, and returns how it
// exited.
func (p *Process) Stop() (*os.ProcessState, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.cmd.ProcessState, nil
	case <-time.After(30 * time.Second):
		p.Kill()
		return p.cmd.ProcessState, fmt.Errorf("%s did not stop within 30 s of SIGTERM", p.name)
	}
}
