package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func findRow(t *testing.T, d *Diff, scenario, metric string) DiffRow {
	t.Helper()
	for _, r := range d.Rows {
		if r.Scenario == scenario && r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no diff row for %s %s", scenario, metric)
	return DiffRow{}
}

func TestCompareIdentical(t *testing.T) {
	old, cur := summarized(t), summarized(t)
	d := Compare(old, cur, DiffOptions{})
	if d.Regressions != 0 {
		t.Fatalf("identical runs: %d regressions\n%s", d.Regressions, render(t, NewDiffReporter(d, true)))
	}
	out := string(render(t, NewDiffReporter(d, false)))
	if !strings.Contains(out, "no regression beyond tolerance 20% (noise floor 1.00 ms)") {
		t.Fatalf("unexpected conclusion:\n%s", out)
	}
	// The invalid scenario is not compared.
	if r := findRow(t, d, "gap-sweep", "verdict"); r.Status != DiffSkipped {
		t.Fatalf("invalid scenario compared: %+v", r)
	}
}

func TestCompareDoubledP99(t *testing.T) {
	old, cur := summarized(t), summarized(t)
	// Every ping of stderr-backpressure twice as slow (its p99 is over a
	// second: far above the floor): each of its 250 ms windows doubles.
	p99 := old.Scenarios[0].Heartbeat.Ping.P99
	old.Scenarios[0].Heartbeat.Series = spreadTail(40, 20, p99, 0.6)
	hb := cur.Scenarios[0].Heartbeat
	hb.Ping.P99 = 2 * p99
	hb.Series = spreadTail(40, 20, 2*p99, 0.6)
	d := Compare(old, cur, DiffOptions{})
	if d.Regressions != 1 {
		t.Fatalf("doubled p99: %d regressions, want 1\n%s", d.Regressions, render(t, NewDiffReporter(d, true)))
	}
	r := findRow(t, d, "stderr-backpressure", "heartbeat.ping.p99")
	if r.Status != DiffRegression || r.Change < 0.99 || r.Change > 1.01 {
		t.Fatalf("row %+v, want a +100%% regression", r)
	}
	out := string(render(t, NewDiffReporter(d, true)))
	if !strings.Contains(out, "+100.0%") || !strings.Contains(out, "1 regression beyond tolerance 20%") {
		t.Fatalf("diff output:\n%s", out)
	}
	// A looser tolerance lets it through.
	if d := Compare(old, cur, DiffOptions{Tolerance: 1.5}); d.Regressions != 0 {
		t.Fatalf("tolerance 150%%: %d regressions", d.Regressions)
	}
}

// spreadTail is a ping series of n 250 ms windows, every step-th of which
// reaches the value v (the others stay at rest×v).
func spreadTail(n, step int, v, rest float64) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{TMS: float64(i) * 250, Value: rest * v}
		if i%step == 0 {
			out[i].Value = v
		}
	}
	return out
}

// A p99 doubled by a few more bursts is noise, and the note says why; the
// same change in many more windows than the old run is a regression.
func TestCompareP99Windows(t *testing.T) {
	for _, tc := range []struct {
		name     string
		step     int // every step-th of 40 windows of the new run reaches twice the old p99
		want     string
		noteHint string
	}{
		{"two bursts, as before", 20, DiffNoise, "2 of 40 windows of the new run reach the old p99, against 2 of 40"},
		{"four bursts", 10, DiffNoise, "4 of 40 windows"},
		{"a third of the windows", 3, DiffRegression, ""},
		{"every window", 1, DiffRegression, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := summarized(t), summarized(t)
			p99 := old.Scenarios[0].Heartbeat.Ping.P99
			old.Scenarios[0].Heartbeat.Series = spreadTail(40, 20, p99, 0.1)
			hb := cur.Scenarios[0].Heartbeat
			hb.Ping.P99 = 2 * p99
			hb.Series = spreadTail(40, tc.step, 2*p99, 0.1)
			r := findRow(t, Compare(old, cur, DiffOptions{}), "stderr-backpressure", "heartbeat.ping.p99")
			if r.Status != tc.want || !strings.Contains(r.Note, tc.noteHint) {
				t.Fatalf("row %+v, want status %s and a note with %q", r, tc.want, tc.noteHint)
			}
		})
	}
}

func TestFisherGreater(t *testing.T) {
	for _, tc := range []struct {
		k, n, K, N int
		want       float64
	}{
		{0, 5, 3, 10, 1},
		{3, 3, 3, 6, 0.05},          // all three marked in the first three of six: 1/C(6,3)
		{2, 2, 2, 4, 1.0 / 6},       // 1/C(4,2)
		{40, 40, 42, 80, 8.009e-21}, // every new window, two old ones: C(42,40)/C(80,40)
	} {
		got := fisherGreater(tc.k, tc.n, tc.K, tc.N)
		if math.Abs(got-tc.want) > 0.01*tc.want {
			t.Errorf("fisherGreater(%d, %d, %d, %d) = %g, want %g", tc.k, tc.n, tc.K, tc.N, got, tc.want)
		}
	}
}

func TestCompareValues(t *testing.T) {
	opts := DiffOptions{}
	f := func(unit, op string, old, cur float64, want string) {
		t.Helper()
		got := compareValue(DiffRow{Unit: unit}, old, cur, direction(op), opts)
		if got.Status != want {
			t.Fatalf("%s %s: %v -> %v: status %q; want %q", unit, op, old, cur, got.Status, want)
		}
	}
	// Latencies: the worse direction beyond 20 % and 1 ms.
	f("ms", "<=", 100, 130, DiffRegression)
	f("ms", "<=", 100, 115, DiffOK)
	f("ms", "<=", 100, 60, DiffImproved)
	// Under the noise floor: 0.4 ms doubling to 0.8 ms is not a regression.
	f("ms", "<=", 0.4, 0.8, DiffOK)
	f("ms", "<=", 0.4, 1.6, DiffRegression)
	// ">=" checks get worse when they shrink.
	f("ratio", ">=", 1, 0.5, DiffRegression)
	f("ratio", ">=", 0.5, 1, DiffImproved)
	// Counts: any whole increase from zero.
	f("count", "<=", 0, 1, DiffRegression)
	f("count", "<=", 1000, 1100, DiffOK)
	// "==" checks only regress by failing.
	f("count", "==", 0, 3, DiffOK)
	f("bool", "<=", 0, 1, DiffOK)
}

func TestCompareFlipsNewMissing(t *testing.T) {
	old, cur := summarized(t), summarized(t)
	// back-to-back starts failing one "==" check: flip is a regression.
	sc := &cur.Scenarios[1]
	sc.Verdict = VerdictFail
	for i := range sc.Checks {
		if sc.Checks[i].Name == "goroutines.leaked" {
			sc.Checks[i].Value, sc.Checks[i].Pass = 2, false
		}
	}
	// stderr-backpressure is fixed.
	cur.Scenarios[0].Verdict = VerdictPass
	// gap-sweep disappears, a new scenario appears.
	cur.Scenarios[2] = Scenario{Name: "long-poll", Verdict: VerdictPass}
	d := Compare(old, cur, DiffOptions{})
	for _, c := range []struct{ sc, metric, status string }{
		{"back-to-back", "verdict", DiffRegression},
		{"back-to-back", "goroutines.leaked", DiffRegression},
		{"stderr-backpressure", "verdict", DiffImproved},
		{"long-poll", "verdict", DiffNew},
		{"gap-sweep", "verdict", DiffMissing},
	} {
		if r := findRow(t, d, c.sc, c.metric); r.Status != c.status {
			t.Errorf("%s %s: %q, want %q", c.sc, c.metric, r.Status, c.status)
		}
	}
	if d.Regressions != 2 {
		t.Fatalf("%d regressions, want 2", d.Regressions)
	}
	var buf bytes.Buffer
	if err := NewDiffReporter(d, true)(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "unchanged rows hidden") {
		t.Fatalf("onlyChanged output:\n%s", buf.String())
	}
}

// A percentile of a handful of samples (two cancelled calls) is not
// counted; without a recorded sample count the change is judged as before.
func TestCompareFewSampleCheck(t *testing.T) {
	run := func(v float64, samples int64) *Result {
		return &Result{Scenarios: []Scenario{{Name: "s", Verdict: VerdictPass, Checks: []Check{
			{Name: "cancel.return_p99", Value: v, Unit: "ms", Op: "<=", Threshold: 100, Pass: true, Samples: samples},
		}}}}
	}
	for _, tc := range []struct {
		samples int64
		want    string
	}{{2, DiffNoise}, {5000, DiffRegression}, {0, DiffRegression}} {
		r := findRow(t, Compare(run(10, tc.samples), run(30, tc.samples), DiffOptions{}), "s", "cancel.return_p99")
		if r.Status != tc.want {
			t.Errorf("samples %d: row %+v, want %s", tc.samples, r, tc.want)
		}
	}
}

// A call's own share is one sample: a third more is noise, a second of CPU
// more is a regression.
func TestCompareCallShare(t *testing.T) {
	run := func(v float64) *Result {
		return &Result{Scenarios: []Scenario{{Name: "s", Verdict: VerdictPass, Checks: []Check{
			{Name: "call.repeat_ms[step 5]", Value: v, Unit: "ms", Op: "<=", Threshold: 5000, Pass: true},
		}}}}
	}
	for _, tc := range []struct {
		old, cur float64
		want     string
	}{{194, 260, DiffNoise}, {40, 120, DiffNoise}, {200, 1200, DiffRegression}, {200, 150, DiffImproved}} {
		r := findRow(t, Compare(run(tc.old), run(tc.cur), DiffOptions{}), "s", "call.repeat_ms[step 5]")
		if r.Status != tc.want {
			t.Errorf("%g → %g: %+v, want %s", tc.old, tc.cur, r, tc.want)
		}
	}
}
