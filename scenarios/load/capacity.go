package load

import (
	"context"
	"fmt"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Limits are what a trial of a capacity search must hold.
type Limits struct {
	// P99 bounds the corrected p99 of every call of the trial.
	P99 time.Duration
	// ErrorRatio and DroppedRatio bound the share of calls that failed
	// and of arrivals that were not sent.
	ErrorRatio, DroppedRatio float64
	// MaxSendLag bounds the generator's own send-lag p99: above it the
	// trial says nothing about the server, and the search stops.
	MaxSendLag time.Duration
}

// SearchOptions configure [Search].
type SearchOptions struct {
	// Start is the first rate tried; each passing trial doubles it until
	// one fails or Max is reached.
	Start, Max float64
	// Resolution ends the bisection between the highest passing and the
	// lowest failing rate once they are this close (0.05 = 5 %).
	Resolution float64
	Limits     Limits
	// Cooldown idles between trials, so one trial's backlog does not
	// count against the next.
	Cooldown time.Duration
}

// Trial runs the load at rate and returns its stats.
type Trial func(ctx context.Context, rate float64) (*Stats, error)

// Search finds the highest rate that holds opts.Limits: rising trials
// from Start, doubling, then bisection. It returns the capacity and the
// stats of the highest passing trial (nil if none passed).
func Search(ctx context.Context, o SearchOptions, run Trial) (*reports.Capacity, *Stats, error) {
	if o.Start <= 0 || o.Max < o.Start || o.Resolution <= 0 {
		return nil, nil, fmt.Errorf("bad capacity search: start %v, max %v, resolution %v: want 0 < start ≤ max and resolution > 0", o.Start, o.Max, o.Resolution)
	}
	sr := &search{o: o, run: run, capacity: &reports.Capacity{Limits: reports.CapacityLimits{
		P99MS: reports.Millis(o.Limits.P99), ErrorRatio: o.Limits.ErrorRatio, DroppedRatio: o.Limits.DroppedRatio}}}
	err := sr.climb(ctx)
	if err == nil {
		err = sr.bisect(ctx)
	}
	return sr.capacity, sr.best, err
}

type search struct {
	o          SearchOptions
	run        Trial
	capacity   *reports.Capacity
	best       *Stats
	pass, fail float64 // highest passing, lowest failing rate (0: none yet)
	began      time.Time
}

func (sr *search) climb(ctx context.Context) error {
	for rate := sr.o.Start; ; rate = min(rate*2, sr.o.Max) {
		ok, err := sr.try(ctx, rate)
		if err != nil || !ok {
			return err
		}
		if rate >= sr.o.Max {
			sr.capacity.Bound = fmt.Sprintf("every trial passed up to the search's max rate %v/s", sr.o.Max)
			return nil
		}
	}
}

func (sr *search) bisect(ctx context.Context) error {
	for sr.fail > 0 && sr.capacity.Bound == "" {
		if sr.fail-sr.pass <= sr.o.Resolution*max(sr.pass, 1) {
			sr.capacity.Bound = fmt.Sprintf("resolution %.0f %%: passed at %v/s, failed at %v/s", sr.o.Resolution*100, sr.pass, sr.fail)
			return nil
		}
		mid := roundRate((sr.pass + sr.fail) / 2)
		if mid <= sr.pass || mid >= sr.fail {
			// Rates are rounded (whole calls/s above 10): nothing lies
			// between the two any more.
			sr.capacity.Bound = fmt.Sprintf("rate granularity: passed at %v/s, failed at %v/s", sr.pass, sr.fail)
			return nil
		}
		if _, err := sr.try(ctx, mid); err != nil {
			return err
		}
	}
	return nil
}

// try runs and judges one trial; false when it failed or could not be
// judged (the search's Bound then says so).
func (sr *search) try(ctx context.Context, rate float64) (bool, error) {
	if len(sr.capacity.Trials) > 0 && sr.o.Cooldown > 0 {
		if err := clock.Sleep(ctx, clock.Real{}, sr.o.Cooldown); err != nil {
			return false, err
		}
	}
	if sr.began.IsZero() {
		sr.began = time.Now()
	}
	st, err := sr.run(ctx, rate)
	if err != nil {
		return false, fmt.Errorf("trial at %v/s: %w", rate, err)
	}
	t := judge(st, rate, sr.o.Limits)
	t.StartMS = reports.Millis(st.Start.Sub(sr.began))
	sr.capacity.Trials = append(sr.capacity.Trials, t)
	switch {
	case t.Invalid != "":
		sr.capacity.Bound = fmt.Sprintf("the generator fell behind at %v/s (%s): the limit is not below %v/s on this machine's figures", rate, t.Invalid, sr.pass)
		return false, nil
	case t.Pass:
		sr.pass, sr.best = rate, st
		sr.capacity.Rate, sr.capacity.P50MS, sr.capacity.P99MS = rate, t.P50MS, t.P99MS
		return true, nil
	}
	if sr.fail == 0 || rate < sr.fail {
		sr.fail = rate
		sr.capacity.Limit = fmt.Sprintf("%s at %v/s", t.Broke, rate)
	}
	if sr.pass == 0 && rate <= sr.o.Start {
		sr.capacity.Bound = fmt.Sprintf("the first trial, at %v/s, failed: start lower", rate)
	}
	return false, nil
}

// judge checks a trial against the limits. A trial whose only failure is
// a p99 above its limit by no more than the clock's own lateness is
// invalid, not failed: the generator, not the server, may have made it.
// A late clock only makes a trial look worse (overdue arrivals go out at
// once; latency counts from the intended time), so a pass stands, and so
// do dropped arrivals and errors. The clock's lateness (wake lag) is the
// generator's; the rest of the send lag — a stdin pipe the server did
// not read — is the server's.
func judge(st *Stats, rate float64, l Limits) reports.Trial {
	sum := st.Summary()
	t := reports.Trial{Rate: rate, Achieved: round(sum.Achieved), DurationMS: reports.Millis(st.Elapsed), Sent: sum.Sent,
		P50MS: reports.Millis(sum.P50), P99MS: reports.Millis(sum.P99), ErrorRatio: round(sum.ErrorRatio),
		DroppedRatio: round(sum.DroppedRatio), SendLagP99MS: reports.Millis(sum.SendLagP99)}
	switch {
	case sum.DroppedRatio > l.DroppedRatio:
		t.Broke = fmt.Sprintf("dropped %.1f %% of arrivals (in-flight bound %d reached) > %.1f %%", sum.DroppedRatio*100, st.MaxInFlight, l.DroppedRatio*100)
	case sum.ErrorRatio > l.ErrorRatio:
		t.Broke = fmt.Sprintf("errors %.1f %% > %.1f %%", sum.ErrorRatio*100, l.ErrorRatio*100)
	case l.P99 > 0 && sum.P99 > l.P99:
		t.Broke = fmt.Sprintf("p99 %v > %v", sum.P99.Round(10*time.Microsecond), l.P99)
		if late := sum.WakeLagP99; l.MaxSendLag > 0 && late > l.MaxSendLag && sum.P99-l.P99 <= late {
			t.Invalid = fmt.Sprintf("the load's clock woke p99 %v late (> %v), enough to explain the p99", late.Round(time.Microsecond), l.MaxSendLag)
		}
	case sum.Completed == 0:
		t.Broke = "no call answered"
	default:
		t.Pass = true
	}
	return t
}

// roundRate keeps rates readable: whole calls per second above 10.
func roundRate(r float64) float64 {
	if r >= 10 {
		return float64(int64(r + 0.5))
	}
	return float64(int64(r*10+0.5)) / 10
}
