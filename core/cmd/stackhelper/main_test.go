package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestProbeAcceptsTwoHundredsOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, "JetStream not ready", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	var stderr bytes.Buffer
	if code := run([]string{"probe", srv.URL + "/healthz"}, nil, &stderr, nil); code != 0 {
		t.Fatalf("healthy endpoint: exit %d, %s", code, stderr.String())
	}
	code := run([]string{"probe", srv.URL + "/other"}, nil, &stderr, nil)
	want := "stackhelper probe: " + srv.URL + "/other answered 503 Service Unavailable: JetStream not ready\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("unhealthy endpoint: exit %d, %q; want 1, %q", code, stderr.String(), want)
	}
}

func TestProbeGivesUpOnASilentServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)

	started := time.Now()
	err := probe(srv.URL, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Fatalf("probe took %v", elapsed)
	}
}

func TestExecPutsFileContentsInTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "access_key")
	if err := os.WriteFile(key, []byte("AKIA-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var gotPath string
	var gotArgv, gotEnv []string
	record := func(path string, argv, env []string) error {
		gotPath, gotArgv, gotEnv = path, argv, env
		return nil
	}
	err := execWithSecrets([]string{"--env", "ROOT_ACCESS_KEY=" + key, "--", "true", "--port", ":7070"}, record)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(gotPath) != "true" || !slices.Equal(gotArgv, []string{"true", "--port", ":7070"}) {
		t.Fatalf("exec %s %v", gotPath, gotArgv)
	}
	if !slices.Contains(gotEnv, "ROOT_ACCESS_KEY=AKIA-secret") {
		t.Fatalf("ROOT_ACCESS_KEY missing or not trimmed in %v", gotEnv)
	}
}

func TestExecErrorsNameTheFix(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"exec", "--env", "X=/nonexistent/secret", "--", "true"}, nil, &stderr, nil)
	want := "stackhelper exec: reading /nonexistent/secret for X: open /nonexistent/secret: no such file or directory (mount the secret there)\n"
	if code != 1 || stderr.String() != want {
		t.Fatalf("exit %d, %q; want 1, %q", code, stderr.String(), want)
	}
	stderr.Reset()
	code = run([]string{"exec", "--env", "X"}, nil, &stderr, nil)
	want = "stackhelper exec: --env wants NAME=FILE, not \"X\"; " + usage + "\n"
	if code != 2 || stderr.String() != want {
		t.Fatalf("exit %d, %q; want 2, %q", code, stderr.String(), want)
	}
}
