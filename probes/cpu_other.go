//go:build !linux

package probes

import "errors"

// ReadCPU needs Linux's /proc; elsewhere the foreign load is not measured.
func ReadCPU(pids ...int) (CPUReading, error) {
	return CPUReading{}, errors.New("probes: CPU accounting needs Linux /proc")
}
