package wake

import (
	"context"
	"time"
)

// A Clock runs a schedule of absolute wake-up times.
type Clock interface {
	// Run calls fire once per time that next yields, in order, as soon as
	// possible after that time, until next reports false or ctx ends. It
	// never skips a time: after a late wake-up every overdue time is fired
	// at once. woke is when the clock woke for that time (the lateness
	// woke − intended is the clock's own, before fire does anything).
	//
	// fire runs on Run's goroutine: it must hand anything slow to another
	// goroutine, or the schedule falls behind. Run returns ctx.Err() when
	// ctx ended, nil when the schedule did.
	Run(ctx context.Context, next func() (time.Time, bool), fire func(intended, woke time.Time)) error

	// Name says which mechanism the clock uses ("clock_nanosleep",
	// "go-timer"), for reports.
	Name() string
}

// New returns the most precise clock this platform has: [Precise] where
// it is supported, else [GoTimer].
func New() Clock {
	if c, err := Precise(); err == nil {
		return c
	}
	return GoTimer()
}

// Every returns a schedule for [Clock.Run]: start, start+interval,
// start+2·interval, … without end. interval must be > 0.
func Every(start time.Time, interval time.Duration) func() (time.Time, bool) {
	k := int64(0)
	return func() (time.Time, bool) {
		t := start.Add(time.Duration(k) * interval)
		k++
		return t, true
	}
}

// GoTimer returns the portable clock: one time.Timer reset for each time.
func GoTimer() Clock { return goTimer{} }

type goTimer struct{}

func (goTimer) Name() string { return "go-timer" }

func (goTimer) Run(ctx context.Context, next func() (time.Time, bool), fire func(intended, woke time.Time)) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		at, ok := next()
		if !ok {
			return nil
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		fire(at, time.Now())
	}
}
