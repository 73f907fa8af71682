package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary re-executes itself as pixie-core when this variable is set,
// so the real main (signal handling, exit codes) runs in a child process.
const runMainEnv = "PIXIE_CORE_TEST_RUN_MAIN"

// realBinary is pixie-core built by TestMain without the race detector or
// coverage, so memory measurements see what production runs.
var realBinary string

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	dir, err := os.MkdirTemp("", "pixie-core-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	realBinary = filepath.Join(dir, "pixie-core")
	if out, err := exec.Command("go", "build", "-o", realBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build pixie-core: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func mainCommand(t *testing.T, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("process did not run: %v", err)
	}
	return ee.ExitCode()
}

func TestInvalidConfigExitsTwoWithOneLine(t *testing.T) {
	cmd := mainCommand(t, map[string]string{"PIXIE_SHUTDOWN_TIMEOUT": "soon", "PIXIE_DATA_DIR": t.TempDir()})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 2 {
		t.Fatalf("exit code = %d, want 2", code)
	}
	out := strings.TrimSuffix(stderr.String(), "\n")
	if strings.Contains(out, "\n") || !strings.Contains(out, "PIXIE_SHUTDOWN_TIMEOUT") {
		t.Fatalf("stderr should be one line naming the variable, got %q", stderr.String())
	}
}

// A partial stack configuration is a startup error naming what is
// missing, never a silent fallback to the embedded backend.
func TestPartialStackSettingsExitTwoNamingWhatIsMissing(t *testing.T) {
	cmd := mainCommand(t, map[string]string{"PIXIE_NATS_URL": "nats://127.0.0.1:4222", "PIXIE_S3_SECRET_KEY": "a-secret-value", "PIXIE_DATA_DIR": t.TempDir()})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 2 {
		t.Fatalf("exit code = %d, want 2; stderr %s", code, stderr.String())
	}
	out := strings.TrimSuffix(stderr.String(), "\n")
	want := "pixie-core: incomplete stack settings: PIXIE_S3_SECRET_KEY, PIXIE_NATS_URL are set but PIXIE_DATABASE_URL_FILE, PIXIE_S3_ENDPOINT, PIXIE_S3_ACCESS_KEY_FILE are missing"
	if strings.Contains(out, "\n") || !strings.HasPrefix(out, want) || strings.Contains(out, "a-secret-value") {
		t.Fatalf("stderr = %q, want one line starting %q", out, want)
	}
}

func TestMigrateWithoutADatabaseSaysWhatToSet(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"migrate"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("exit code = %d, want 2", code)
	}
	if got := stderr.String(); got != "pixie-core migrate: PIXIE_DATABASE_URL_FILE (or PIXIE_DATABASE_URL) is unset; set it to the database to migrate\n" {
		t.Fatalf("stderr = %q", got)
	}
}

func TestUnknownCommandExitsTwo(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "frobnicate") {
		t.Fatalf("stderr = %q", stderr.String())
	}
}

func TestVersionCommand(t *testing.T) {
	var stdout bytes.Buffer
	if code := run([]string{"version"}, func(string) string { return "" }, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
	var got map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("version output is not JSON: %v: %q", err, stdout.String())
	}
	if got["version"] != "dev" || got["commit"] != "unknown" || got["build_time"] != "unknown" {
		t.Fatalf("version output = %v", got)
	}
}

func TestHealthcheckFailsWhenNothingListens(t *testing.T) {
	addr := freeAddr(t)
	env := map[string]string{"PIXIE_HTTP_ADDR": addr}
	if code := run([]string{"healthcheck"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Fatalf("healthcheck exit code = %d, want 1", code)
	}
}

// TestServeHealthcheckAndSIGTERM runs the real binary the way a container
// does: it must become healthy, then exit 0 quickly on SIGTERM.
func TestServeHealthcheckAndSIGTERM(t *testing.T) {
	env := map[string]string{
		"PIXIE_HTTP_ADDR": freeAddr(t),
		"PIXIE_GRPC_ADDR": freeAddr(t),
		"PIXIE_DATA_DIR":  t.TempDir(),
	}
	cmd := mainCommand(t, env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	getenv := func(k string) string { return env[k] }
	deadline := time.Now().Add(10 * time.Second)
	for run([]string{"healthcheck"}, getenv, &bytes.Buffer{}, &bytes.Buffer{}) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("server never became healthy; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if code := exitCode(t, err); code != 0 {
			t.Fatalf("exit code after SIGTERM = %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("process did not exit within 5s of SIGTERM")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("idle shutdown took %v, want < 2s", took)
	}
	if !strings.Contains(stderr.String(), `"msg":"shutdown complete"`) {
		t.Fatalf("expected a structured shutdown log, got:\n%s", stderr.String())
	}
}
