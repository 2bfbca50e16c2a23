package probes

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
)

// fakeSender answers every ping after delay, refuses every block-th one
// with ErrWouldBlock, and never answers when delay < 0.
type fakeSender struct {
	delay   time.Duration
	block   int64
	n, sent atomic.Int64
	mu      sync.Mutex
	forgot  int
}

func (f *fakeSender) TrySend(_ Kind, answered func(time.Time, error)) (func(), error) {
	if n := f.n.Add(1); f.block > 0 && n%f.block == 0 {
		return nil, ErrWouldBlock
	}
	f.sent.Add(1)
	if f.delay >= 0 {
		time.AfterFunc(f.delay, func() { answered(time.Now(), nil) })
	}
	return func() { f.mu.Lock(); f.forgot++; f.mu.Unlock() }, nil
}

type countTarget struct{ pings atomic.Int64 }

func (c *countTarget) Ping(context.Context) error { c.pings.Add(1); return nil }
func (c *countTarget) Noop(context.Context) error { return nil }

// Pings go through the sender from the clock; those it cannot send at
// once go through the Target; every tick is counted once.
func TestHeartbeat_pingSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &fakeSender{delay: 2 * time.Millisecond, block: 4}
		tgt := &countTarget{}
		hb := NewHeartbeat(tgt, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 10 * time.Millisecond, NoopInterval: -1, Sender: snd})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		hb.Stop()
		s := hb.Snapshot()
		if got := s.Ping.Count(); got != 100 {
			t.Errorf("%d pings recorded; want 100", got)
		}
		if snd.sent.Load() != 75 || tgt.pings.Load() != 25 {
			t.Errorf("sender sent %d, target %d; want 75 and 25", snd.sent.Load(), tgt.pings.Load())
		}
		if p50 := s.Ping.Quantile(50); p50 < 2*time.Millisecond || p50 > 3*time.Millisecond {
			t.Errorf("p50 %v; want the sender's 2 ms", p50)
		}
		if s.Ping.Timeouts != 0 || s.Ping.Errors != 0 || s.Dropped() != 0 {
			t.Errorf("timeouts %d errors %d dropped %d; want none", s.Ping.Timeouts, s.Ping.Errors, s.Dropped())
		}
	})
}

// A ping never answered times out at its deadline, counted and kept in the
// histogram, and the sender is told to forget it; Stop ends the rest
// without recording them.
func TestHeartbeat_pingSenderTimeoutAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &fakeSender{delay: -1}
		hb := NewHeartbeat(&countTarget{}, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 100 * time.Millisecond,
			NoopInterval: -1, Timeout: 300 * time.Millisecond, Sender: snd})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - time.Millisecond)
		hb.Stop()
		s := hb.Snapshot()
		// Intended at 0..900 ms; those up to 600 ms timed out by 999 ms.
		if s.Ping.Timeouts != 7 || s.Ping.Count() != 7 {
			t.Errorf("timeouts %d, samples %d; want 7 and 7", s.Ping.Timeouts, s.Ping.Count())
		}
		if m := s.Ping.Max(); m < 300*time.Millisecond || m > 301*time.Millisecond {
			t.Errorf("max %v; want the 300 ms deadline", m)
		}
		snd.mu.Lock()
		defer snd.mu.Unlock()
		if snd.forgot != 10 {
			t.Errorf("sender told to forget %d pings; want all 10", snd.forgot)
		}
	})
}
