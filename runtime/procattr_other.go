//go:build !linux

package runtime

import "os/exec"

// setProcAttr does nothing here: a worker leaves when its pipe closes.
func setProcAttr(cmd *exec.Cmd) {}
