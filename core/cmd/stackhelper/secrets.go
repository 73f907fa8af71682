package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The stack's secrets: random values, generated once and kept with the data they protect (the
// password is set when Postgres initializes its volume, so it must outlive every restart).
var secretSpecs = []struct {
	name     string
	alphabet string
	length   int
}{
	{"postgres_password", alnum, 32},
	// The shapes of AWS keys, which some S3 clients check.
	{"s3_access_key", upperAlnum, 20},
	{"s3_secret_key", alnum, 40},
}

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum      = upperAlnum + "abcdefghijklmnopqrstuvwxyz"
	// The database URL's template names the password by this placeholder; the password's
	// alphabet needs no escaping in a URL.
	passwordPlaceholder = "{postgres_password}"
)

// generateSecrets writes the secrets DIR lacks, then gives every one of them to UID:GID with mode
// 0600 (a compose secret is a bind mount: the file's own owner and mode are what the container
// sees). Existing values are kept. It runs as root in a one-shot container, so that the files
// belong to the services' user whoever runs the xtask.
func generateSecrets(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("secrets", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "")
	owner := fs.String("owner", "", "")
	databaseURL := fs.String("database-url", "", "")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	uid, gid, err := parseOwner(*owner)
	if err != nil {
		return usageError{err}
	}
	if *dir == "" || fs.NArg() != 0 {
		return usageError{errors.New("--dir takes the secrets folder, and nothing follows the flags")}
	}
	if !strings.Contains(*databaseURL, passwordPlaceholder) {
		return usageError{fmt.Errorf("--database-url must contain %s", passwordPlaceholder)}
	}
	names := make([]string, 0, len(secretSpecs)+1)
	for _, spec := range secretSpecs {
		created, err := writeIfMissing(*dir, spec.name, func() (string, error) {
			return randomString(spec.alphabet, spec.length)
		})
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stdout, "generated %s\n", spec.name)
		}
		names = append(names, spec.name)
	}
	created, err := writeIfMissing(*dir, "database_url", func() (string, error) {
		password, err := os.ReadFile(filepath.Join(*dir, "postgres_password"))
		return strings.ReplaceAll(*databaseURL, passwordPlaceholder, string(password)), err
	})
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintln(stdout, "generated database_url")
	}
	for _, name := range append(names, "database_url") {
		path := filepath.Join(*dir, name)
		if err := os.Chown(path, uid, gid); err != nil {
			return fmt.Errorf("%w (run me as root: the services read these files as uid %d)", err, uid)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func parseOwner(owner string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(owner, ":")
	uid, errU := strconv.Atoi(u)
	gid, errG := strconv.Atoi(g)
	if !ok || errU != nil || errG != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("--owner wants UID:GID in numbers, not %q", owner)
	}
	return uid, gid, nil
}

// writeIfMissing creates DIR/NAME from value() unless it exists: written beside, then renamed
// into place, so a reader never sees half a secret.
func writeIfMissing(dir, name string, value func() (string, error)) (bool, error) {
	path := filepath.Join(dir, name)
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	content, err := value()
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), path)
}

func randomString(alphabet string, length int) (string, error) {
	// Rejection sampling keeps every character equally likely.
	limit := byte(256 - 256%len(alphabet))
	out := make([]byte, 0, length)
	buf := make([]byte, 2*length)
	for len(out) < length {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < limit && len(out) < length {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
