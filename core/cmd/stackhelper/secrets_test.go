package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

const testURL = "postgres://pixie:{postgres_password}@postgres:5432/pixie?sslmode=disable"

func secretsArgs(dir string) []string {
	owner := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	return []string{"secrets", "--dir", dir, "--owner", owner, "--database-url", testURL}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecretsAreGeneratedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(secretsArgs(dir), &stdout, &stderr, nil); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := "generated postgres_password\ngenerated s3_access_key\ngenerated s3_secret_key\ngenerated database_url\n"
	if stdout.String() != want {
		t.Fatalf("stdout %q, want %q", stdout.String(), want)
	}
	password := read(t, dir, "postgres_password")
	if !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(password) {
		t.Fatalf("password %q", password)
	}
	if !regexp.MustCompile(`^[A-Z0-9]{20}$`).MatchString(read(t, dir, "s3_access_key")) {
		t.Fatal("access key is not 20 upper-case letters and digits")
	}
	if got := read(t, dir, "database_url"); got != "postgres://pixie:"+password+"@postgres:5432/pixie?sslmode=disable" {
		t.Fatalf("database_url %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Fatalf("want 4 files and no leftovers, got %v", entries)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", e.Name(), info.Mode())
		}
	}

	// A second run keeps every value and repairs a loosened mode.
	accessKey := read(t, dir, "s3_access_key")
	if err := os.Chmod(filepath.Join(dir, "s3_access_key"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run(secretsArgs(dir), &stdout, &stderr, nil); code != 0 || stdout.Len() != 0 {
		t.Fatalf("second run: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if read(t, dir, "postgres_password") != password || read(t, dir, "s3_access_key") != accessKey {
		t.Fatal("a second run changed a secret")
	}
	if info, _ := os.Stat(filepath.Join(dir, "s3_access_key")); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode not repaired: %v", info.Mode())
	}
}

func TestSecretsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"secrets", "--dir", "d", "--owner", "postgres", "--database-url", testURL},
			`stackhelper secrets: --owner wants UID:GID in numbers, not "postgres"; ` + usage + "\n"},
		{[]string{"secrets", "--dir", "d", "--owner", "1:1", "--database-url", "postgres://x"},
			"stackhelper secrets: --database-url must contain {postgres_password}; " + usage + "\n"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, nil, &stderr, nil); code != 2 || stderr.String() != tc.want {
			t.Errorf("%v: exit %d, %q; want 2, %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
