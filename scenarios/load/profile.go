package load

import (
	"fmt"
	"math"
	"time"
)

// Stage is one part of a rate profile: over Duration the arrival rate moves
// linearly from the previous stage's Target (or the profile's Start) to
// Target, in arrivals per second. A stage whose Target equals the rate
// before it holds that rate.
type Stage struct {
	Duration time.Duration
	Target   float64
}

// Profile is an arrival-rate profile: Start, then each stage in turn.
type Profile struct {
	Start  float64
	Stages []Stage
}

// Constant is a profile of rate arrivals per second for d.
func Constant(rate float64, d time.Duration) Profile {
	return Profile{Start: rate, Stages: []Stage{{Duration: d, Target: rate}}}
}

// Validate reports a profile that cannot be played.
func (p Profile) Validate() error {
	if p.Start < 0 || math.IsNaN(p.Start) || math.IsInf(p.Start, 0) {
		return fmt.Errorf("start rate %v: must be a finite number ≥ 0", p.Start)
	}
	if len(p.Stages) == 0 {
		return fmt.Errorf("no stages: want at least one stage with a duration")
	}
	for i, s := range p.Stages {
		if s.Duration <= 0 {
			return fmt.Errorf("stage %d: duration %v: must be > 0", i+1, s.Duration)
		}
		if s.Target < 0 || math.IsNaN(s.Target) || math.IsInf(s.Target, 0) {
			return fmt.Errorf("stage %d: rate %v: must be a finite number ≥ 0", i+1, s.Target)
		}
	}
	if p.Expected() < 1 {
		return fmt.Errorf("the profile schedules no arrival (rates × durations < 1)")
	}
	return nil
}

// Duration is the profile's length.
func (p Profile) Duration() time.Duration {
	var d time.Duration
	for _, s := range p.Stages {
		d += s.Duration
	}
	return d
}

// Expected is how many arrivals the profile schedules (the area under the
// rate curve).
func (p Profile) Expected() float64 {
	n, from := 0.0, p.Start
	for _, s := range p.Stages {
		n += (from + s.Target) / 2 * s.Duration.Seconds()
		from = s.Target
	}
	return n
}

// Mean is the profile's mean offered rate in arrivals per second.
func (p Profile) Mean() float64 {
	if d := p.Duration().Seconds(); d > 0 {
		return p.Expected() / d
	}
	return 0
}

// Peak is the profile's highest rate.
func (p Profile) Peak() float64 {
	peak := p.Start
	for _, s := range p.Stages {
		peak = max(peak, s.Target)
	}
	return peak
}

// RateAt is the offered rate at offset t into the profile (0 past its end).
func (p Profile) RateAt(t time.Duration) float64 {
	from := p.Start
	for _, s := range p.Stages {
		if t < s.Duration {
			return from + (s.Target-from)*t.Seconds()/s.Duration.Seconds()
		}
		t -= s.Duration
		from = s.Target
	}
	return 0
}

// Offsets returns the schedule's arrival offsets from the profile's start,
// in order: arrival k is due where the number of arrivals the rate curve
// holds reaches k (the first at 0 when the start rate is above 0). It
// reports false after the last one.
func (p Profile) Offsets() func() (time.Duration, bool) {
	stage, from := 0, p.Start
	var base time.Duration // start of the current stage
	before := 0.0          // arrivals the stages before the current one hold
	k := 0.0               // index of the next arrival
	return func() (time.Duration, bool) {
		for stage < len(p.Stages) {
			s := p.Stages[stage]
			if tau, ok := solveArea(from, s.Target, s.Duration.Seconds(), k-before); ok {
				k++
				return base + time.Duration(tau*float64(time.Second)), true
			}
			before += (from + s.Target) / 2 * s.Duration.Seconds()
			base += s.Duration
			from = s.Target
			stage++
		}
		return 0, false
	}
}

// solveArea finds τ in [0, d) where the area under a rate going linearly
// from r0 to r1 over d seconds reaches n: r0·τ + (r1−r0)·τ²/(2d) = n.
func solveArea(r0, r1, d, n float64) (float64, bool) {
	if n < 0 && n > -1e-9 {
		n = 0 // the area before this stage, summed in floating point, came out a hair above k
	}
	if n < 0 {
		return 0, false
	}
	a := (r1 - r0) / (2 * d)
	var tau float64
	switch {
	case n == 0:
		tau = 0
		if r0 == 0 && r1 == 0 {
			return 0, false
		}
	case a == 0:
		if r0 <= 0 {
			return 0, false
		}
		tau = n / r0
	default:
		disc := r0*r0 + 4*a*n
		if disc < 0 {
			return 0, false // a falling rate that never holds n
		}
		// 2n / (r0 + √disc) is −b+√disc over 2a without cancellation.
		den := r0 + math.Sqrt(disc)
		if den <= 0 {
			return 0, false
		}
		tau = 2 * n / den
	}
	return tau, tau < d
}
