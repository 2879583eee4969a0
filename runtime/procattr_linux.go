package runtime

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a worker when the thread that started
// it exits, in addition to the worker leaving when its pipe closes.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
