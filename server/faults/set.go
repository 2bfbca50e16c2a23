package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Set is the faults switched on in one server, and their hooks. A nil
// *Set has none on; its hooks do nothing.
type Set struct {
	on  map[string]bool
	clk clock.Clock

	ctx    context.Context // ends at Close: the compactions stop
	cancel context.CancelFunc
	bg     sync.WaitGroup // the held-lock compactions
	mu     sync.Mutex
	closed bool // Close has begun: no compaction starts

	sem     chan struct{} // held-semaphore: the one model-call slot
	calls   atomic.Int64  // model calls so far (cpu-hot-path)
	history sync.Mutex    // held-lock: taken by every model call, held by the compaction
	pool    *workerPool   // worker-pool
}

// Check reports the first name that is not a fault's.
func Check(names []string) error {
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			return fmt.Errorf("unknown canary %q; known: %s", n, strings.Join(Names(), ", "))
		}
	}
	return nil
}

// New switches on the named faults; the server's clock times the
// held-lock compaction. It fails on an unknown name; no names give a nil
// Set.
func New(names []string, clk clock.Clock) (*Set, error) {
	if err := Check(names); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	on := map[string]bool{}
	for _, n := range names {
		on[n] = true
	}
	s := &Set{on: on, clk: clk}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if on[HeldSemaphore] {
		s.sem = make(chan struct{}, 1)
	}
	if on[WorkerPool] {
		s.pool = startWorkerPool()
	}
	return s, nil
}

// Has reports whether the fault called name is on.
func (s *Set) Has(name string) bool { return s != nil && s.on[name] }

// Close stops the Set's goroutines and waits for them. Call it after the
// server has stopped dispatching.
func (s *Set) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.bg.Wait()
	if s.pool != nil {
		s.pool.stop()
	}
}
