// Command stackhelper runs inside the containers of pixie's compose stack (`run-* --stack full`),
// bind-mounted read-only from the host, so that it works in any image, shell-less and public ones
// included (the stack never relies on a curl or a shell that an image may drop):
//
//	stackhelper probe URL
//	    GET URL; exit 0 on a 2xx answer within 2 s, else 1 with one line saying why
//	    (a compose health check of an HTTP health endpoint).
//	stackhelper exec [--env NAME=FILE]... -- COMMAND [ARG]...
//	    set NAME to the content of FILE (one trailing newline dropped), then replace this
//	    process with COMMAND: for servers that take a secret from their environment only, so
//	    the secret reaches them from a mounted file and never appears in the container's
//	    configuration (`docker inspect`).
//	stackhelper secrets --dir DIR --owner UID:GID --database-url TEMPLATE
//	    generate the stack's secrets that DIR lacks (see secrets.go), as files of mode 0600
//	    owned by UID:GID; print the names of the new ones, never a value.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const probeTimeout = 2 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, syscall.Exec))
}

// execFunc replaces the process (syscall.Exec); tests pass a recorder.
type execFunc func(path string, argv []string, env []string) error

const usage = "usage: stackhelper probe URL | stackhelper exec [--env NAME=FILE]... -- COMMAND [ARG]... | " +
	"stackhelper secrets --dir DIR --owner UID:GID --database-url TEMPLATE"

func run(args []string, stdout, stderr io.Writer, execve execFunc) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "probe":
		if len(args) != 2 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		if err := probe(args[1], probeTimeout); err != nil {
			fmt.Fprintf(stderr, "stackhelper probe: %v\n", err)
			return 1
		}
		return 0
	case "exec":
		return report(stderr, "exec", execWithSecrets(args[1:], execve))
	case "secrets":
		return report(stderr, "secrets", generateSecrets(args[1:], stdout))
	default:
		fmt.Fprintf(stderr, "stackhelper: unknown command %q; %s\n", args[0], usage)
		return 2
	}
}

func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A short body helps the health log (`docker inspect`): NATS says what is not ready.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

type usageError struct{ error }

// report turns a subcommand's error into its line and exit code: 2 for usage, else 1.
func report(stderr io.Writer, command string, err error) int {
	if err == nil {
		return 0
	}
	var usageErr usageError
	if errors.As(err, &usageErr) {
		fmt.Fprintf(stderr, "stackhelper %s: %v; %s\n", command, err, usage)
		return 2
	}
	fmt.Fprintf(stderr, "stackhelper %s: %v\n", command, err)
	return 1
}

// execWithSecrets returns only on failure: on success execve does not return.
func execWithSecrets(args []string, execve execFunc) error {
	env := os.Environ()
	for len(args) > 0 && args[0] != "--" {
		if args[0] != "--env" || len(args) < 2 {
			return usageError{fmt.Errorf("unexpected %q", args[0])}
		}
		name, file, ok := strings.Cut(args[1], "=")
		if !ok || name == "" || file == "" {
			return usageError{fmt.Errorf("--env wants NAME=FILE, not %q", args[1])}
		}
		content, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading %s for %s: %w (mount the secret there)", file, name, err)
		}
		env = append(env, name+"="+strings.TrimSuffix(string(content), "\n"))
		args = args[2:]
	}
	if len(args) < 2 {
		return usageError{errors.New("no command after --")}
	}
	path, err := exec.LookPath(args[1])
	if err != nil {
		return err
	}
	return execve(path, args[1:], env)
}
