package scenarios

import "syscall"

// procAttr puts the server in its own process group (so the whole group can
// be killed) and asks the kernel to SIGKILL it if the runner dies, even by
// SIGKILL, so a killed replay leaves no orphan server.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
