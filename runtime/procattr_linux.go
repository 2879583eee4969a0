package runtime

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a worker when the thread that started
// it exits, in addition to the worker leaving when its pipe closes.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// growPipe asks for a 1 MiB pipe buffer (the default is 64 KiB), so that a
// large argument or result crosses in one write. Failure is harmless.
func growPipe(f *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, 1<<20)
		})
	}
}
