package wake

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Defaults of [Calibrate].
const (
	DefaultCalibrateFor      = time.Second
	DefaultCalibrateInterval = 2 * time.Millisecond
)

// Lateness summarises how late a clock woke up: wake-up time minus the
// intended time, over a schedule.
type Lateness struct {
	Clock   string // the mechanism measured
	Samples int
	P50     time.Duration
	P99     time.Duration
	Max     time.Duration
}

func (l Lateness) String() string {
	return fmt.Sprintf("%s p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d wake-ups)",
		l.Clock, ms(l.P50), ms(l.P99), ms(l.Max), l.Samples)
}

// Calibration is this machine's wake-up lateness, measured while nothing
// else of the harness runs.
type Calibration struct {
	Interval time.Duration // the schedule's period
	// Kernel is the precise clock's own lateness: when its thread woke.
	Kernel Lateness
	// Handoff is the prober's whole path: the precise clock's wake-up
	// plus the hand-off of the tick to a goroutine waiting for it, which
	// is where a probe starts.
	Handoff Lateness
	// GoTimer is Go's time.Timer on the same schedule, for reference.
	GoTimer Lateness
}

// CalibrateOptions set how long and how often [Calibrate] wakes up. The
// zero value means the defaults.
type CalibrateOptions struct {
	For      time.Duration // 0 means DefaultCalibrateFor
	Interval time.Duration // 0 means DefaultCalibrateInterval
	// Precise is the clock measured as the prober's; nil means [New].
	Precise Clock
}

// Calibrate runs the precise clock for opts.For, then Go's timers for half
// as long, on the same schedule, and reports how late each woke up.
func Calibrate(ctx context.Context, opts CalibrateOptions) (Calibration, error) {
	if opts.For <= 0 {
		opts.For = DefaultCalibrateFor
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultCalibrateInterval
	}
	if opts.Precise == nil {
		opts.Precise = New()
	}
	// One after the other: while the precise clock's thread wakes up
	// often, Go's timers run early on its wake-ups and look precise too.
	n := int(opts.For / opts.Interval)
	kernel, handoff, err := measureHandoff(ctx, opts.Precise, time.Now().Add(opts.Interval), opts.Interval, n)
	if err != nil {
		return Calibration{}, fmt.Errorf("cannot calibrate the %s clock: %w", opts.Precise.Name(), err)
	}
	timer, err := measure(ctx, GoTimer(), time.Now().Add(opts.Interval), opts.Interval, max(1, n/2))
	if err != nil {
		return Calibration{}, fmt.Errorf("cannot calibrate Go's timers: %w", err)
	}
	return Calibration{
		Interval: opts.Interval,
		Kernel:   summarize(opts.Precise.Name(), kernel),
		Handoff:  summarize(opts.Precise.Name()+"+handoff", handoff),
		GoTimer:  summarize(GoTimer().Name(), timer),
	}, nil
}

// measure runs n wake-ups of c and returns their lateness.
func measure(ctx context.Context, c Clock, start time.Time, interval time.Duration, n int) ([]time.Duration, error) {
	late := make([]time.Duration, 0, n)
	err := c.Run(ctx, limit(Every(start, interval), n), func(intended, woke time.Time) {
		late = append(late, woke.Sub(intended))
	})
	return late, err
}

// measureHandoff runs n wake-ups of c, each handed to a waiting goroutine
// as [Handoff] does, and returns the clock's lateness and the receiver's.
func measureHandoff(ctx context.Context, c Clock, start time.Time, interval time.Duration, n int) (woke, got []time.Duration, err error) {
	woke = make([]time.Duration, 0, n)
	got = make([]time.Duration, 0, n)
	h := NewHandoff(64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for t := range h.C() {
			got = append(got, time.Since(t.Intended))
		}
	}()
	err = c.Run(ctx, limit(Every(start, interval), n), func(intended, w time.Time) {
		woke = append(woke, w.Sub(intended))
		h.Fire(intended)
	})
	h.Close()
	<-done
	return woke, got, err
}

func limit(next func() (time.Time, bool), n int) func() (time.Time, bool) {
	return func() (time.Time, bool) {
		if n <= 0 {
			return time.Time{}, false
		}
		n--
		return next()
	}
}

func summarize(clock string, late []time.Duration) Lateness {
	l := Lateness{Clock: clock, Samples: len(late)}
	if len(late) == 0 {
		return l
	}
	slices.Sort(late)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(late))+0.5) - 1
		return late[max(0, min(i, len(late)-1))]
	}
	l.P50, l.P99, l.Max = at(0.50), at(0.99), late[len(late)-1]
	return l
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
