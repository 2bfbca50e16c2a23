// Package clock abstracts time so that the server, the fakes and the scenario
// runner can share one notion of "scenario time".
//
// A scenario written in real durations ("wait 3m") is replayed in CI with
// --time-scale 60: every component built on a [Scaled] clock of the same scale
// sees 3 minutes pass while 3 real seconds elapse, so causality between the
// fake API's throttle window, the server's TTLs and the runner's gaps is kept.
//
// All clocks here are safe for concurrent use.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells scenario time and makes timers that fire in scenario time.
type Clock interface {
	// Now returns the current scenario time.
	Now() time.Time
	// NewTimer returns a timer that fires once d of scenario time has passed.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the project needs.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing and reports whether it did so.
	Stop() bool
}

// Since returns the scenario time elapsed since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// WithTimeoutCause is context.WithTimeoutCause on c's time: the returned
// context ends with cause once d of c's time has passed, or when ctx ends
// or cancel is called. Its goroutine ends with the context; call cancel.
func WithTimeoutCause(ctx context.Context, c Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(ctx)
	t := c.NewTimer(d)
	go func() {
		defer t.Stop()
		select {
		case <-t.C():
			cancel(cause)
		case <-cctx.Done():
		}
	}()
	return cctx, func() { cancel(context.Canceled) }
}

// Sleep waits d of scenario time or until ctx ends, whichever is first, and
// returns ctx.Err() in the latter case. A d <= 0 returns at once.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// Real is the wall clock. Its zero value is ready to use.
type Real struct{}

func (Real) Now() time.Time                 { return time.Now() }
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Scaled runs scenario time Scale times faster than the wall clock: a timer for
// d fires after d/Scale of real time, and Now advances Scale seconds per real
// second from its origin (the moment the clock was made, unless given).
// Scale <= 1 behaves like [Real] but still reports time relative to its origin.
type Scaled struct {
	scale float64
	start time.Time
}

// NewScaled returns a clock running scale times faster than real time from
// now. A scale <= 0 is treated as 1.
func NewScaled(scale float64) *Scaled {
	return NewScaledFrom(scale, time.Time{})
}

// NewScaledFrom returns a clock running scale times faster than real time
// from origin (the zero time, or one still to come, means now). Clocks of
// one scale and origin tell the same time in every process: a server
// restarted mid-scenario reads the times its predecessor stored as the
// past they are — with each clock running from its own start, the first
// server's clock had run ahead of the second's by (scale-1)× its lifetime,
// and the store it last used seconds ago looked used minutes in the future.
func NewScaledFrom(scale float64, origin time.Time) *Scaled {
	if scale <= 0 {
		scale = 1
	}
	now := time.Now()
	if origin.IsZero() || origin.After(now) {
		origin = now
	}
	// Counted from now's monotonic reading: a parsed origin has none, and
	// Now would then follow wall-clock steps, multiplied by the scale.
	return &Scaled{scale: scale, start: now.Add(origin.Sub(now))}
}

// Origin returns the real time at which scenario time equals real time.
func (s *Scaled) Origin() time.Time { return s.start }

// Scale returns the speed-up factor.
func (s *Scaled) Scale() float64 { return s.scale }

// Now returns scenario time.
func (s *Scaled) Now() time.Time {
	return s.start.Add(time.Duration(float64(time.Since(s.start)) * s.scale))
}

// Real converts a scenario duration to the wall-clock duration it takes.
func (s *Scaled) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.scale)
}

// NewTimer fires after d/Scale of real time.
func (s *Scaled) NewTimer(d time.Duration) Timer {
	return realTimer{time.NewTimer(s.Real(d))}
}

// Fake is a manual clock for tests: time moves only when Advance is called.
// Create it with [NewFake].
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	waiters chan struct{} // signalled whenever a timer is created
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, waiters: make(chan struct{}, 1)}
}

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when Advance moves the clock past d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	t := &fakeTimer{f: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- f.now
		t.fired = true
	} else {
		f.timers = append(f.timers, t)
	}
	f.mu.Unlock()
	select {
	case f.waiters <- struct{}{}:
	default:
	}
	return t
}

// Advance moves the clock forward by d and fires every timer now due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	keep := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(now) {
			t.fired = true
			t.c <- now // buffered 1 and fired only once: never blocks
			continue
		}
		keep = append(keep, t)
	}
	f.timers = keep
	f.mu.Unlock()
}

// Pending reports how many timers are waiting to fire.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// WaitForTimers blocks until at least n timers are pending or ctx ends. Tests
// use it to advance the clock only once the code under test is waiting.
func (f *Fake) WaitForTimers(ctx context.Context, n int) error {
	for {
		if f.Pending() >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.waiters:
		case <-time.After(time.Millisecond):
		}
	}
}

type fakeTimer struct {
	f     *Fake
	at    time.Time
	c     chan time.Time
	fired bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.fired {
		return false
	}
	for i, x := range t.f.timers {
		if x == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			return true
		}
	}
	return false
}
