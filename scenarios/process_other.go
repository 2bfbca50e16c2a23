//go:build unix && !linux

package scenarios

import (
	"errors"
	"os"
	"syscall"
)

// procAttr puts the server in its own process group, so the whole group can
// be killed. Outside Linux there is no parent-death signal: a runner killed
// with SIGKILL can leave the server running until its stdin closes.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// setPipeSize cannot resize a pipe outside Linux.
func setPipeSize(*os.File, int64) error {
	return errors.New("resizing a pipe needs Linux (F_SETPIPE_SZ)")
}
