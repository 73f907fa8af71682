package budget

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the decode child when pixie-core dies,
// even by SIGKILL: an orphaned child would hold memory the budget no longer counts.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
