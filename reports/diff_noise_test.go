package reports

import (
	"testing"
)

// twoRuns returns a pair of results of one scenario whose baseline phase
// has count pings, the new run's ping figures scaled by the given factors.
func twoRuns(count int64, p99, p999, mx float64) (*Result, *Result) {
	mk := func(f99, f999, fmax float64) *Result {
		l := &Latencies{Count: count, P50: 1, P99: 4 * f99, P999: 10 * f999, Max: 20 * fmax}
		return &Result{Scenarios: []Scenario{{
			Name: "s", Verdict: VerdictPass,
			Heartbeat: &Heartbeat{Ping: l, SendLagP99MS: 0.3},
			Phases:    []Phase{{Name: "baseline", Ping: l}},
			Checks: []Check{{Name: "heartbeat.ping.p99", Phase: "baseline", Unit: "ms", Op: "<=", Value: l.P99, Threshold: 50, Pass: true},
				{Name: "heartbeat.ping.max", Phase: "baseline", Unit: "ms", Op: "<", Value: l.Max, Threshold: 1000, Pass: true}},
		}}}
	}
	return mk(1, 1, 1), mk(p99, p999, mx)
}

func TestCompare_noise(t *testing.T) {
	f := func(count int64, p99, p999, mx float64, wantRegressions, wantNoise int) {
		t.Helper()
		old, cur := twoRuns(count, p99, p999, mx)
		d := Compare(old, cur, DiffOptions{})
		if d.Regressions != wantRegressions || d.Noise != wantNoise {
			for _, r := range d.Rows {
				t.Logf("%s %s %s→%s %s %s", r.Scenario, r.Metric, r.Old, r.New, r.Status, r.Note)
			}
			t.Errorf("count %d, ×%v/×%v/×%v: %d regressions, %d noise; want %d, %d",
				count, p99, p999, mx, d.Regressions, d.Noise, wantRegressions, wantNoise)
		}
	}
	// Two healthy runs: max and p99.9 double, p99 stays: nothing counts.
	f(1200, 1, 2, 2, 0, 3)
	// A doubled p99 over 1,200 samples (12 in its tail) is a regression,
	// both as the heartbeat row and as the phase's check.
	f(1200, 2, 1, 1, 2, 0)
	// The same p99 over 300 samples rests on 3: noise.
	f(300, 2, 1, 1, 0, 2)
	// A p99.9 over 20,000 samples counts.
	f(20000, 1, 2, 1, 1, 0)
}

func TestCompare_floorFromCalibration(t *testing.T) {
	old, cur := twoRuns(5000, 1.2, 1, 1) // p99 4 → 4.8 ms: +20 % and +0.8 ms
	cur.Scenarios[0].Heartbeat.Ping.P99 = 5.5
	d := Compare(old, cur, DiffOptions{})
	if d.Regressions == 0 {
		t.Fatalf("a +1.5 ms p99 over 5,000 samples is a regression with a 1 ms floor")
	}
	old.Run.Calibration = &Calibration{Prober: Lateness{P99MS: 1}}
	d = Compare(old, cur, DiffOptions{})
	if d.FloorMS != 2 {
		t.Errorf("floor = %v; want twice the calibrated prober p99 (2 ms)", d.FloorMS)
	}
	for _, r := range d.Rows {
		if r.Metric == "heartbeat.ping.p99" && r.Status != DiffNoise {
			t.Errorf("p99 +1.5 ms within a 2 ms floor: status %s (%s)", r.Status, r.Note)
		}
	}
}

// A scenario in which the machine was busy (the prober itself late) widens
// the floor to twice its send lag; on a quiet machine the same change counts.
func TestCompare_floorFromSendLag(t *testing.T) {
	for _, tc := range []struct {
		sendLag float64
		want    string
	}{{0.3, DiffRegression}, {1.85, DiffNoise}} {
		old, cur := twoRuns(5000, 1, 1, 1)
		cur.Scenarios[0].Heartbeat.Ping.P99 = 4 + 2.8 // +2.8 ms, +70 %
		cur.Scenarios[0].Heartbeat.SendLagP99MS = tc.sendLag
		r := findRow(t, Compare(old, cur, DiffOptions{}), "s", "heartbeat.ping.p99")
		if r.Status != tc.want {
			t.Errorf("send lag %v ms: %s (%s), want %s", tc.sendLag, r.Status, r.Note, tc.want)
		}
	}
}
