package stacktest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	coreBin   string
	buildErr  error
)

// CoreBinary builds pixie-core once per test process, without the race
// detector, as it runs in production. Main removes it at the end.
func CoreBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "pixie-core-bin-"); buildErr != nil {
			return
		}
		coreBin = filepath.Join(buildDir, "pixie-core")
		out, err := exec.Command("go", "build", "-o", coreBin, "github.com/pixie-photos/pixie/core/cmd/pixie-core").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build pixie-core: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return coreBin
}

// Core is a running pixie-core process.
type Core struct {
	HTTPBase string
	GRPCAddr string
	cmd      *exec.Cmd
	exited   chan struct{}
	mu       sync.Mutex
	log      strings.Builder
}

// StartCore runs pixie-core with env (PIXIE_* settings) on free loopback
// ports and waits until /readyz answers 200. It dies with the test process;
// its cleanup kills it and logs its output if the test failed.
func StartCore(t testing.TB, env ...string) *Core {
	t.Helper()
	c := &Core{exited: make(chan struct{})}
	c.cmd = exec.Command(CoreBinary(t))
	c.cmd.Env = append(os.Environ(), "PIXIE_HTTP_ADDR=127.0.0.1:0", "PIXIE_GRPC_ADDR=127.0.0.1:0", "PIXIE_LOG_LEVEL=info")
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	go c.readLog(stderr, serving)
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			t.Logf("pixie-core log:\n%s", c.Log())
		}
	})
	select {
	case <-serving:
	case <-c.exited:
		t.Fatalf("pixie-core exited before serving: %v\n%s", c.cmd.ProcessState, c.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("pixie-core did not log \"pixie-core serving\" within 30 s:\n%s", c.Log())
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("pixie-core not ready within 30 s:\n%s", c.Log())
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting
	}
	return c
}

// readLog keeps the log and finds the addresses in the "serving" line.
func (c *Core) readLog(r io.Reader, serving chan struct{}) {
	defer close(c.exited)
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		c.mu.Lock()
		c.log.Write(lines.Bytes())
		c.log.WriteByte('\n')
		c.mu.Unlock()
		var line struct {
			Msg      string `json:"msg"`
			HTTPAddr string `json:"http_addr"`
			GRPCAddr string `json:"grpc_addr"`
		}
		if json.Unmarshal(lines.Bytes(), &line) == nil && line.Msg == "pixie-core serving" {
			c.HTTPBase, c.GRPCAddr = "http://"+line.HTTPAddr, line.GRPCAddr
			close(serving)
		}
	}
	_ = c.cmd.Wait()
}

func (c *Core) ready() bool {
	resp, err := http.Get(c.HTTPBase + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Log is what the process wrote so far.
func (c *Core) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// Kill kills the process (SIGKILL: no cleanup of any kind) and waits.
func (c *Core) Kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// Stop asks the process to shut down (SIGTERM) and waits.
func (c *Core) Stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		c.Kill()
		return fmt.Errorf("pixie-core did not stop within 30 s of SIGTERM")
	}
}
