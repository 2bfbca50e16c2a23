//go:build !linux

package faults

import "os"

// openUncached is a plain open where O_DIRECT is not available: the
// blocking-file-io fault still reads on the read loop, from the cache.
func openUncached(path string) (*os.File, error) {
	return os.Open(path)
}
