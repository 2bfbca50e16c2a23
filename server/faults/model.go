package faults

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// BeginModelCall is the model-call hook (server.ModelCallHook): the server
// calls it before each model request and end once the request is over.
func (s *Set) BeginModelCall(ctx context.Context) (end func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	if s.on[GoroutineLeak] {
		s.watchCall()
	}
	if s.on[CPUHotPath] {
		s.rehashHistory()
	}
	var ends []func()
	if s.on[HeldLock] {
		s.lockHistory()
		ends = append(ends, s.compactHistoryLater)
	}
	if s.on[HeldSemaphore] {
		if err := s.acquireModelSlot(ctx); err != nil {
			return nil, err
		}
		ends = append(ends, func() { s.releaseModelSlot(ctx) })
	}
	return func() {
		for i := len(ends) - 1; i >= 0; i-- {
			ends[i]()
		}
	}, nil
}

// ---- held-semaphore ----

// acquireModelSlot takes the one model-call slot. The matching release is
// skipped when the call is cancelled — the bug suspected in the OpenAI SDK
// of the original server — so every later model call waits here.
func (s *Set) acquireModelSlot(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Set) releaseModelSlot(ctx context.Context) {
	if ctx.Err() != nil {
		return // FAULT: a cancelled call leaves the semaphore held
	}
	<-s.sem
}

// ---- goroutine-leak ----

// watchCall starts a goroutine that waits for the model call's outcome.
// Nothing ever reports the outcome: every model call leaves the goroutine
// parked on its channel, alive for the server's lifetime.
func (s *Set) watchCall() {
	outcome := make(chan error)
	go func() { <-outcome }()
}

// ---- cpu-hot-path ----

// rehashHistory re-hashes, on the request path, everything the earlier
// model calls sent — a de-duplication cache keyed wrongly. The first call
// costs nothing, each later one about a second of CPU more: a second query
// that slows down with no wait and no upstream to blame.
func (s *Set) rehashHistory() {
	n := s.calls.Add(1) - 1
	var sum [sha256.Size]byte
	block := make([]byte, 1<<20)
	for range 1500 * n {
		sum = sha256.Sum256(block)
		block[0] = sum[0]
	}
}

// ---- held-lock ----

// historyCompaction is how long the background compaction holds the
// history lock (scenario time).
const historyCompaction = time.Minute

// lockHistory is taken by every model call before it starts: it waits
// while a compaction holds the lock.
func (s *Set) lockHistory() {
	s.history.Lock()
	defer s.history.Unlock()
}

// compactHistoryLater starts, after a model call, a background
// "compaction" that holds the history lock for a minute of scenario time:
// the next query waits for it, with no upstream to blame.
func (s *Set) compactHistoryLater() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.bg.Go(func() {
		s.history.Lock()
		defer s.history.Unlock()
		_ = clock.Sleep(s.ctx, s.clk, historyCompaction)
	})
}
