package stacktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one server process with its log.
type process struct {
	name string
	argv []string
	env  []string
	// asPostgres runs it as the postgres user when we are root (initdb and
	// postgres refuse root).
	asPostgres bool
	// deathSignal is what it gets when the test process dies.
	deathSignal syscall.Signal

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	log    bytes.Buffer
	logMu  sync.Mutex
	exited error
}

// start runs the process; it does not wait for it to serve.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = (*logWriter)(p), (*logWriter)(p)
	// Its own process group: a stop reaches its children too (postgres).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: p.deathSignal}
	if p.asPostgres && os.Geteuid() == 0 {
		uid, gid, err := postgresUser()
		if err != nil {
			return err
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		err := cmd.Wait()
		p.mu.Lock()
		p.exited = err
		p.mu.Unlock()
		close(done)
	}(p.done)
	return nil
}

// signalTree sends sig to the process and all its descendants (Postgres
// backends start process groups of their own, so a group signal misses
// them).
func (p *process) signalTree(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	for _, pid := range descendants(p.cmd.Process.Pid) {
		_ = syscall.Kill(pid, sig) // it may have exited meanwhile
	}
	return syscall.Kill(p.cmd.Process.Pid, sig)
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			if ppid, err := strconv.Atoi(fields[1]); err == nil {
				children[ppid] = append(children[ppid], child)
			}
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// stop sends sig and waits for the process to exit (then kills it after
// 30 s).
func (p *process) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT) // a paused server cannot exit
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// running reports whether the process has not exited, and why it did.
func (p *process) running() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false, errors.New("not started")
	}
	select {
	case <-p.done:
		return false, p.exited
	default:
		return true, nil
	}
}

// Log returns what the process wrote.
func (p *process) Log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

type logWriter process

func (w *logWriter) Write(b []byte) (int, error) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	if w.log.Len() < 1<<20 {
		w.log.Write(b)
	}
	return len(b), nil
}

// waitReady polls ready until it succeeds, the process exits, or 60 s pass.
func (p *process) waitReady(ready func(context.Context) error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if ok, exitErr := p.running(); !ok {
			return fmt.Errorf("%s exited (%v) before serving; its log:\n%s", p.name, exitErr, tail(p.Log()))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not serve within 60 s (%v); its log:\n%s", p.name, err, tail(p.Log()))
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

func postgresUser() (uid, gid uint32, err error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, fmt.Errorf("running as root, the Postgres servers run as the postgres user, which is missing: %w (install postgresql-15)", err)
	}
	id, _ := strconv.Atoi(u.Uid)
	g, _ := strconv.Atoi(u.Gid)
	return uint32(id), uint32(g), nil
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// place makes a server's temporary folder (one the postgres user can use
// too, for Postgres) and picks its port; the caller removes the folder.
func place(prefix string, forPostgres bool) (dir string, port int, err error) {
	if port, err = freePort(); err != nil {
		return "", 0, err
	}
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", 0, err
	}
	if forPostgres && os.Geteuid() == 0 {
		uid, gid, err := postgresUser()
		if err == nil {
			err = os.Chown(dir, int(uid), int(gid))
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			return "", 0, err
		}
	}
	return dir, port, nil
}
