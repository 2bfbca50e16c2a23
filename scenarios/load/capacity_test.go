package load

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
)

// TestSearch_FindsTheKnee drives a fake server that answers in 2 ms while
// the rate stays under its capacity and in 200 ms above it.
func TestSearch_FindsTheKnee(t *testing.T) {
	tests := []struct {
		name      string
		knee      float64
		start     float64
		max       float64
		wantLow   float64
		wantHigh  float64
		wantBound string
		res       float64 // resolution; 0 means 0.1
	}{
		{"knee inside", 300, 50, 1000, 270, 300, "resolution", 0},
		{"never breaks", 1e9, 50, 400, 400, 400, "max rate", 0},
		{"first trial fails", 10, 50, 400, 0, 0, "first trial", 0},
		// Whole rates: 16 passes, 17 fails, and 5 % of 16 is under one
		// call/s — the search must stop, not retry 17 for ever.
		{"rate granularity", 16.5, 16, 17, 16, 16, "granularity", 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				trial := func(ctx context.Context, rate float64) (*Stats, error) {
					d := 2 * time.Millisecond
					if rate > tt.knee {
						d = 200 * time.Millisecond
					}
					f := &fakeSender{delay: func(Request) time.Duration { return d }, class: func(Request) string { return "" }}
					return Run(ctx, Options{Profile: Constant(rate, time.Second), Mix: mustMix(t, []Entry{{"a", 1}}),
						MaxInFlight: 10000, Timeout: time.Second, Clock: wake.GoTimer()}, f)
				}
				res := tt.res
				if res == 0 {
					res = 0.1
				}
				c, best, err := Search(t.Context(), SearchOptions{Start: tt.start, Max: tt.max, Resolution: res,
					Limits: Limits{P99: 50 * time.Millisecond, ErrorRatio: 0.01, DroppedRatio: 0.01}, Cooldown: 100 * time.Millisecond}, trial)
				if err != nil {
					t.Fatal(err)
				}
				if c.Rate < tt.wantLow || c.Rate > tt.wantHigh {
					t.Errorf("capacity %v/s, want %v..%v (trials %+v)", c.Rate, tt.wantLow, tt.wantHigh, c.Trials)
				}
				if (best == nil) != (c.Rate == 0) {
					t.Errorf("best stats %v for capacity %v", best != nil, c.Rate)
				}
				if !strings.Contains(c.Bound, tt.wantBound) {
					t.Errorf("bound %q, want it to mention %q", c.Bound, tt.wantBound)
				}
				if tt.knee < tt.max && (c.Limit == "" || !strings.Contains(c.Limit, "p99")) {
					t.Errorf("limit %q: want the p99 named", c.Limit)
				}
			})
		})
	}
}

// lateClock wakes every arrival late by lag, as a clock thread that must
// wait for a CPU does.
type lateClock struct{ lag time.Duration }

func (c lateClock) Name() string { return "late" }

func (c lateClock) Run(ctx context.Context, next func() (time.Time, bool), fire func(intended, woke time.Time)) error {
	return wake.GoTimer().Run(ctx, func() (time.Time, bool) {
		t, ok := next()
		return t.Add(c.lag), ok
	}, func(at, woke time.Time) { fire(at.Add(-c.lag), woke) })
}

func TestSearch_LateGenerator(t *testing.T) {
	tests := []struct {
		name        string
		answer      time.Duration
		wantInvalid bool
	}{
		// p99 of 48 ms against a 45 ms limit: within the clock's 5 ms.
		{"failure within the lag is invalid", 43 * time.Millisecond, true},
		// p99 of 205 ms: far beyond what 5 ms of lateness explains.
		{"failure beyond the lag stands", 200 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				trial := func(ctx context.Context, rate float64) (*Stats, error) {
					f := &fakeSender{delay: func(Request) time.Duration { return tt.answer }, class: func(Request) string { return "" }}
					return Run(ctx, Options{Profile: Constant(rate, time.Second), Mix: mustMix(t, []Entry{{"a", 1}}),
						MaxInFlight: 1000, Timeout: time.Second, Clock: lateClock{lag: 5 * time.Millisecond}}, f)
				}
				c, _, err := Search(t.Context(), SearchOptions{Start: 10, Max: 100, Resolution: 0.1,
					Limits: Limits{P99: 45 * time.Millisecond, MaxSendLag: 2 * time.Millisecond}}, trial)
				if err != nil {
					t.Fatal(err)
				}
				first := c.Trials[0]
				if got := first.Invalid != ""; got != tt.wantInvalid {
					t.Errorf("trial %+v: invalid %v, want %v", first, got, tt.wantInvalid)
				}
				if tt.wantInvalid && !strings.Contains(c.Bound, "fell behind") {
					t.Errorf("bound %q: want the generator named", c.Bound)
				}
			})
		})
	}
}
