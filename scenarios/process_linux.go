package scenarios

import (
	"fmt"
	"os"
	"syscall"
)

// procAttr puts the server in its own process group (so the whole group can
// be killed) and asks the kernel to SIGKILL it if the runner dies, even by
// SIGKILL, so a killed replay leaves no orphan server.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// fSetPipeSz is F_SETPIPE_SZ (fcntl.h); the syscall package lacks it.
const fSetPipeSz = 1031

// setPipeSize resizes a pipe's buffer (the kernel rounds up to a page).
func setPipeSize(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, uintptr(size))
	}); cerr != nil {
		return cerr
	}
	if errno != 0 {
		return fmt.Errorf("fcntl F_SETPIPE_SZ: %w", errno)
	}
	return nil
}
