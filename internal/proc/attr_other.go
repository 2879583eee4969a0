//go:build !linux

package proc

import (
	"os"
	"os/exec"
)

// setProcAttr does nothing here: a worker leaves when its pipe closes.
func setProcAttr(cmd *exec.Cmd) {}

// growPipe does nothing here.
func growPipe(f *os.File) {}

// IsPipe reports whether fd is open; other systems are not checked more
// closely.
func IsPipe(fd int) bool {
	f := os.NewFile(uintptr(fd), "")
	if f == nil {
		return false
	}
	_, err := f.Stat()
	return err == nil
}
