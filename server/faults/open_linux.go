package faults

import (
	"os"
	"syscall"
)

// openUncached opens path for reading with O_DIRECT, so every read of the
// blocking-file-io fault goes to the device instead of the page cache. A
// filesystem without O_DIRECT (tmpfs refuses it with EINVAL) gets a plain
// open: the fault still reads on the read loop, only faster.
func openUncached(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err == nil {
		return f, nil
	}
	return os.Open(path)
}
