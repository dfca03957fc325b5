package loadtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the child when the benchmark dies,
// even by SIGKILL, when no deferred Stop can run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
