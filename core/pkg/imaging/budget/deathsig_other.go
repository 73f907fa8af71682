//go:build !linux

package budget

import "os/exec"

// dieWithParent has no portable equivalent of Linux's parent-death signal.
func dieWithParent(*exec.Cmd) {}
