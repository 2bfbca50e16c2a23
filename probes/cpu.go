package probes

import "time"

// CPUReading is one read of the machine's busy CPU time and of the part the
// watched processes (the harness and the server) spent; see [ReadCPU].
type CPUReading struct {
	At    time.Time
	Busy  time.Duration // all CPUs, machine-wide
	Procs time.Duration // the watched processes
}

// ForeignCPU is how many CPUs, on average between two readings, processes
// other than the watched ones kept busy: another job on the machine. A
// latency the server could not help — its goroutines waiting for a CPU
// someone else held — is not a verdict on the server.
func ForeignCPU(a, b CPUReading) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	foreign := (b.Busy - a.Busy) - (b.Procs - a.Procs)
	return max(0, float64(foreign)/float64(wall))
}
