package probes

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
)

// stallTarget answers after base, except that during [from, to) since
// start the whole "server" is frozen: anything in flight, or sent, then
// waits until to.
type stallTarget struct {
	start    time.Time
	from, to time.Duration
	base     time.Duration
	calls    atomic.Int64
}

func (s *stallTarget) wait(ctx context.Context) error {
	s.calls.Add(1)
	if now := time.Since(s.start); now >= s.from && now < s.to {
		t := time.NewTimer(s.to - now)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	t := time.NewTimer(s.base)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *stallTarget) Ping(ctx context.Context) error { return s.wait(ctx) }
func (s *stallTarget) Noop(ctx context.Context) error { return s.wait(ctx) }

// slowCount counts samples above d.
func slowCount(k KindStats, d time.Duration) int64 {
	var n int64
	for _, b := range k.Hist.Distribution() {
		if b.From > int64(d) {
			n += b.Count
		}
	}
	return n
}

// TestHeartbeat_coordinatedOmission is the test: a server that
// stalls 1 s once in a 10 s run, probed every 20 ms, must cost ~50 slow
// samples, not 1. It runs in a synctest bubble, so time is virtual and the
// count is exact.
func TestHeartbeat_coordinatedOmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tgt := &stallTarget{start: time.Now(), from: 5 * time.Second, to: 6 * time.Second, base: time.Millisecond}
		hb := NewHeartbeat(tgt, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 20 * time.Millisecond, NoopInterval: -1})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		hb.Stop()
		s := hb.Snapshot()
		slow := slowCount(s.Ping, 10*time.Millisecond)
		t.Logf("samples=%d slow(>10ms)=%d max=%v p99=%v p99.9=%v", s.Ping.Count(), slow, s.Ping.Max(), s.Ping.Quantile(99), s.Ping.Quantile(99.9))
		if slow < 40 || slow > 55 {
			t.Errorf("slow samples = %d; want ~50 (one per probe intended during the 1 s stall)", slow)
		}
		if s.Ping.Count() < 490 || s.Ping.Count() > 501 {
			t.Errorf("samples = %d; want ~500", s.Ping.Count())
		}
		if m := s.Ping.Max(); m < 990*time.Millisecond || m > 1100*time.Millisecond {
			t.Errorf("max = %v; want ~1s", m)
		}
		if s.Dropped() != 0 || s.Ping.Timeouts != 0 || s.Ping.Errors != 0 {
			t.Errorf("dropped=%d timeouts=%d errors=%d; want 0", s.Dropped(), s.Ping.Timeouts, s.Ping.Errors)
		}
		if lag := s.SendLag.Max(); lag > int64(time.Millisecond) {
			t.Errorf("send lag max = %v in virtual time; want ~0", time.Duration(lag))
		}
	})
}

// TestHeartbeat_coordinatedOmissionRealClock repeats the test on the real
// clock, scaled down (0.5 s stall in a 2.5 s run → ~25 slow samples), with
// generous bounds for a noisy machine.
func TestHeartbeat_coordinatedOmissionRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("real clock")
	}
	tgt := &stallTarget{start: time.Now(), from: time.Second, to: 1500 * time.Millisecond, base: 0}
	hb := NewHeartbeat(tgt, HeartbeatOptions{Interval: 20 * time.Millisecond, NoopInterval: -1})
	if err := hb.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	hb.Stop()
	s := hb.Snapshot()
	slow := slowCount(s.Ping, 15*time.Millisecond)
	t.Logf("real clock: samples=%d slow(>15ms)=%d max=%v p50=%v lag p99=%v", s.Ping.Count(), slow, s.Ping.Max(), s.Ping.Quantile(50), time.Duration(s.SendLag.ValueAtQuantile(99)))
	if slow < 18 {
		t.Errorf("slow samples = %d; want ~25 (>= 18)", slow)
	}
	if s.Ping.Max() < 450*time.Millisecond {
		t.Errorf("max = %v; want ~500ms", s.Ping.Max())
	}
}

// blockTarget ignores ctx until release is closed: it models a Target
// that does not honour cancellation.
type blockTarget struct{ release chan struct{} }

func (b blockTarget) Ping(context.Context) error { <-b.release; return nil }
func (b blockTarget) Noop(context.Context) error { <-b.release; return nil }

func TestHeartbeat_droppedTicksWhenBoundHit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tgt := blockTarget{release: make(chan struct{})}
		hb := NewHeartbeat(tgt, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 10 * time.Millisecond, NoopInterval: -1, MaxOutstanding: 5})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100*time.Millisecond + time.Millisecond) // ticks 0..10: 11 ticks
		close(tgt.release)
		synctest.Wait()
		hb.Stop()
		s := hb.Snapshot()
		if got := s.Dropped(); got != 6 {
			t.Errorf("dropped = %d; want 6 (11 ticks, 5 slots)", got)
		}
		if got := s.Ping.Count(); got != 5 {
			t.Errorf("recorded = %d; want 5", got)
		}
	})
}

func TestHeartbeat_timeoutsAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tgt := &stallTarget{start: time.Now(), from: 0, to: time.Hour}
		hb := NewHeartbeat(tgt, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 100 * time.Millisecond, NoopInterval: -1, Timeout: 300 * time.Millisecond})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + 350*time.Millisecond) // 11 ticks (0 to 1.0 s), each timed out 300 ms later, by 1.3 s
		hb.Stop()
		s := hb.Snapshot()
		if s.Ping.Timeouts != 11 {
			t.Errorf("timeouts = %d; want 11", s.Ping.Timeouts)
		}
		if s.Ping.Max() < 300*time.Millisecond {
			t.Errorf("max = %v; timed-out probes must be recorded at >= the timeout", s.Ping.Max())
		}
	})
	synctest.Test(t, func(t *testing.T) {
		hb := NewHeartbeat(errTarget{}, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 100 * time.Millisecond})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(490 * time.Millisecond) // pings at 0–400 ms, no-ops half an interval later, at 50–450 ms
		hb.Stop()
		s := hb.Snapshot()
		if s.Ping.Errors != 5 || s.Noop.Errors != 5 || s.Ping.Count() != 0 {
			t.Errorf("errors ping=%d noop=%d count=%d; want 5, 5, 0", s.Ping.Errors, s.Noop.Errors, s.Ping.Count())
		}
	})
}

type errTarget struct{}

func (errTarget) Ping(context.Context) error { return errors.New("broken pipe") }
func (errTarget) Noop(context.Context) error { return errors.New("broken pipe") }

func TestHeartbeat_phases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tgt := &stallTarget{start: time.Now(), from: time.Second, to: 1100 * time.Millisecond, base: time.Millisecond}
		hb := NewHeartbeat(tgt, HeartbeatOptions{Clock: wake.GoTimer(), Interval: 20 * time.Millisecond})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second - time.Millisecond)
		hb.SetPhase("fault:slow-sink")
		time.Sleep(time.Second)
		hb.SetPhase("baseline") // back to an earlier phase: adds to it
		time.Sleep(200 * time.Millisecond)
		hb.Stop()
		s := hb.Snapshot()
		if len(s.Phases) != 2 {
			t.Fatalf("phases = %d; want 2", len(s.Phases))
		}
		base, _ := s.Phase("baseline")
		fault, _ := s.Phase("fault:slow-sink")
		if base.Ping.Max() > 2*time.Millisecond {
			t.Errorf("baseline max = %v; the stall belongs to the fault phase", base.Ping.Max())
		}
		if fault.Ping.Max() < 90*time.Millisecond {
			t.Errorf("fault max = %v; want ~100ms", fault.Ping.Max())
		}
		if got := base.Ping.Count() + fault.Ping.Count(); got != s.Ping.Count() {
			t.Errorf("phase counts %d != merged %d", got, s.Ping.Count())
		}
		r := s.ReportPhases()
		if r[1].Ping.P999 < 50 || r[0].Ping.Count != base.Ping.Count() || r[1].NoopTool == nil {
			t.Errorf("report phases = %+v %+v", r[0].Ping, r[1].Ping)
		}
		if rep := s.Report(); rep.Ping.Max < 90 || len(rep.Series) == 0 || rep.Ping.Hist == "" {
			t.Errorf("report = %+v", rep)
		}
	})
}

func TestHeartbeat_breachOncePerArm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tgt := &stallTarget{start: time.Now(), from: time.Second, to: 3 * time.Second, base: time.Millisecond}
		var mu sync.Mutex
		var got []Breach
		hb := NewHeartbeat(tgt, HeartbeatOptions{
			Clock: wake.GoTimer(), Interval: 20 * time.Millisecond, NoopInterval: -1,
			OnBreach: func(ctx context.Context, b Breach) {
				mu.Lock()
				got = append(got, b)
				mu.Unlock()
			},
		})
		if err := hb.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // stall from 1 s: breach at 1.25 s, only once
		hb.ArmBreach()              // re-armed at 2 s: fires again (> 1 s since the last)
		time.Sleep(2 * time.Second)
		hb.Stop()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 {
			t.Fatalf("breaches = %d; want 2: %+v", len(got), got)
		}
		if d := got[0].Intended.Sub(tgt.start); d != time.Second {
			t.Errorf("first breach intended at %v; want 1s (the first stalled probe)", d)
		}
		if got[0].Elapsed < 250*time.Millisecond || got[0].Phase != "baseline" || got[0].Kind != KindPing {
			t.Errorf("breach = %+v", got[0])
		}
	})
}

func TestHeartbeat_startStop(t *testing.T) {
	hb := NewHeartbeat(errTarget{}, HeartbeatOptions{})
	if hb.Stop() {
		t.Error("Stop before Start reported stopping")
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := hb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hb.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v; want ErrStarted", err)
	}
	cancel() // ending ctx stops the goroutines too; Stop still waits
	if !hb.Stop() || hb.Stop() {
		t.Error("Stop must report true once")
	}
}

func TestHeartbeatOptions_WakeSpacing(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		ping, noop time.Duration
		want       time.Duration
	}{
		{"defaults: no-ops halfway between pings", 0, 0, DefaultInterval / 2},
		{"same intervals", 8 * ms, 8 * ms, 4 * ms},
		{"no-ops off", 8 * ms, -1, 8 * ms},
		{"pings off", -1, 6 * ms, 6 * ms},
		{"both off", -1, -1, 0},
		{"rare no-ops", 8 * ms, 100 * ms, 4 * ms},
		{"frequent no-ops", 20 * ms, 3 * ms, 3 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HeartbeatOptions{Interval: tt.ping, NoopInterval: tt.noop}.WakeSpacing()
			if got != tt.want {
				t.Errorf("WakeSpacing() = %v, want %v", got, tt.want)
			}
		})
	}
}
