package proc

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr starts a worker in a process group of its own, so that a
// terminal's Ctrl-C (SIGINT to the foreground group) reaches the parent
// alone, and makes the kernel kill the worker when the thread that
// started it exits, in addition to the worker leaving when its pipe
// closes.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
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

// IsPipe reports whether fd is an open pipe.
func IsPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}
