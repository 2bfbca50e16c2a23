package reports

import (
	"bytes"
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
	hb := cur.Scenarios[0].Heartbeat.Ping
	hb.P99 *= 2 // stderr-backpressure's p99 is over a second: far above the floor
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
