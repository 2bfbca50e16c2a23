package probes

import (
	"os"
	"testing"
	"time"
)

// Our own CPU shows in both the machine's busy time and the watched
// processes' time, so it never counts as foreign.
func TestReadCPU_ownWorkIsNotForeign(t *testing.T) {
	a, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for procCPU(os.Getpid())-a.Procs < 200*time.Millisecond && time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x ^= i
		}
	}
	_ = x
	b, err := ReadCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	own, busy := b.Procs-a.Procs, b.Busy-a.Busy
	if own < 200*time.Millisecond {
		t.Fatalf("burned %v of CPU in 5 s; the reading does not see this process", own)
	}
	// Both are sampled at clock ticks: allow a few.
	if busy < own-5*clockTick {
		t.Errorf("machine busy %v < this process's %v", busy, own)
	}
	if procCPU(-1) != 0 {
		t.Errorf("a process that does not exist used CPU")
	}
}

func TestForeignCPU(t *testing.T) {
	t0 := time.Now()
	a := CPUReading{At: t0, Busy: 10 * time.Second, Procs: 2 * time.Second}
	f := func(wall, busy, procs time.Duration, want float64) {
		t.Helper()
		b := CPUReading{At: t0.Add(wall), Busy: a.Busy + busy, Procs: a.Procs + procs}
		if got := ForeignCPU(a, b); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("ForeignCPU(wall %v, busy %v, ours %v) = %v; want %v", wall, busy, procs, got, want)
		}
	}
	f(time.Second, 1500*time.Millisecond, 500*time.Millisecond, 1)
	f(2*time.Second, time.Second, time.Second, 0)
	f(time.Second, 0, 100*time.Millisecond, 0) // tick skew never goes negative
	f(0, time.Second, 0, 0)
}
