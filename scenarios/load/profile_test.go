package load

import (
	"math"
	"testing"
	"time"
)

func TestProfile_Offsets(t *testing.T) {
	tests := []struct {
		name  string
		p     Profile
		count int
		// firsts are the first offsets expected.
		firsts []time.Duration
		last   time.Duration // upper bound of the last offset
	}{
		{"constant", Constant(10, time.Second), 10,
			[]time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond}, time.Second},
		{"ramp from zero", Profile{Start: 0, Stages: []Stage{{Duration: 2 * time.Second, Target: 10}}}, 10,
			[]time.Duration{0, 632455532 * time.Nanosecond}, 2 * time.Second},
		{"two stages", Profile{Start: 4, Stages: []Stage{{time.Second, 4}, {time.Second, 8}}}, 10,
			[]time.Duration{0, 250 * time.Millisecond}, 2 * time.Second},
		{"a pause", Profile{Start: 2, Stages: []Stage{{time.Second, 2}, {time.Second, 0}, {time.Second, 0}, {time.Second, 2}}}, 4,
			[]time.Duration{0, 500 * time.Millisecond}, 4 * time.Second},
		{"falling", Profile{Start: 20, Stages: []Stage{{time.Second, 0}}}, 10, []time.Duration{0, 51316702 * time.Nanosecond}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := tt.p.Offsets()
			var got []time.Duration
			for {
				d, ok := next()
				if !ok {
					break
				}
				got = append(got, d)
				if len(got) > 10*tt.count {
					t.Fatalf("schedule does not end")
				}
			}
			if len(got) != tt.count {
				t.Fatalf("got %d arrivals, want %d (Expected %.2f): %v", len(got), tt.count, tt.p.Expected(), got)
			}
			for i, want := range tt.firsts {
				if diff := got[i] - want; diff < -time.Microsecond || diff > time.Microsecond {
					t.Errorf("arrival %d at %v, want %v", i, got[i], want)
				}
			}
			for i := 1; i < len(got); i++ {
				if got[i] < got[i-1] {
					t.Errorf("arrival %d at %v before arrival %d at %v", i, got[i], i-1, got[i-1])
				}
			}
			if l := got[len(got)-1]; l >= tt.last {
				t.Errorf("last arrival at %v, want before %v", l, tt.last)
			}
		})
	}
}

func TestProfile_Figures(t *testing.T) {
	p := Profile{Start: 0, Stages: []Stage{{10 * time.Second, 100}, {10 * time.Second, 100}}}
	if got := p.Expected(); math.Abs(got-1500) > 1e-9 {
		t.Errorf("Expected = %v, want 1500", got)
	}
	if got := p.Mean(); math.Abs(got-75) > 1e-9 {
		t.Errorf("Mean = %v, want 75", got)
	}
	if got := p.RateAt(5 * time.Second); math.Abs(got-50) > 1e-9 {
		t.Errorf("RateAt(5s) = %v, want 50", got)
	}
	if got := p.Peak(); got != 100 {
		t.Errorf("Peak = %v", got)
	}
}

func TestProfile_Validate(t *testing.T) {
	bad := []Profile{
		{},
		{Start: -1, Stages: []Stage{{time.Second, 1}}},
		{Start: 1, Stages: []Stage{{0, 1}}},
		{Start: 1, Stages: []Stage{{time.Second, math.NaN()}}},
		{Start: 0, Stages: []Stage{{time.Second, 0}}},
	}
	for i, p := range bad {
		if p.Validate() == nil {
			t.Errorf("profile %d (%+v) validated", i, p)
		}
	}
	if err := Constant(1, time.Second).Validate(); err != nil {
		t.Errorf("constant: %v", err)
	}
}
