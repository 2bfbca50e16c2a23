package reports

import (
	"strings"
	"testing"
)

// loadRun is a run of one passing scenario, many-hosts, with loads.
func loadRun(loads ...Load) *Result {
	return &Result{Scenarios: []Scenario{{Name: "many-hosts", Verdict: VerdictPass, Loads: loads}}}
}

func searchLoad(rate float64) Load {
	return Load{Name: "find-limit", Capacity: &Capacity{Rate: rate, Limits: fixtureLimits}}
}

func plainLoad(offered, achieved float64, tools ...LoadTool) Load {
	return Load{Name: "steady", OfferedRate: offered, AchievedRate: achieved, Tools: tools}
}

func p99Tool(name string, count int64, p99 float64) LoadTool {
	return LoadTool{Name: name, Latency: &Latencies{Count: count, P99: p99}}
}

func TestCompareLoadCapacity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		old, new    float64
		status      string
		regressions int
	}{
		{"a 15 % drop is beyond 10 %", 1000, 850, DiffRegression, 1},
		{"a 5 % drop is within 10 %", 1000, 950, DiffOK, 0},
		{"a 20 % rise is an improvement", 1000, 1200, DiffImproved, 0},
		{"no rate passes any more", 1000, 0, DiffRegression, 1},
		{"a rate passes again", 0, 400, DiffImproved, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Compare(loadRun(searchLoad(tc.old)), loadRun(searchLoad(tc.new)), DiffOptions{Tolerance: 0.1})
			r := findRow(t, d, "many-hosts", "load.find-limit.capacity")
			if r.Status != tc.status || r.Unit != UnitRate || d.Regressions != tc.regressions {
				t.Fatalf("row %+v, %d regressions; want status %s, unit %s, %d regressions", r, d.Regressions, tc.status, UnitRate, tc.regressions)
			}
			out := string(render(t, NewDiffReporter(d, true)))
			if tc.regressions > 0 && (!strings.Contains(out, "load.find-limit.capacity") || !strings.Contains(out, "REGRESSION") ||
				!strings.Contains(out, FormatValue(tc.new, UnitRate)) || !strings.Contains(out, "1 regression beyond tolerance 10%")) {
				t.Fatalf("the diff does not show the capacity regression:\n%s", out)
			}
		})
	}
}

func TestCompareLoadPresence(t *testing.T) {
	t.Parallel()
	steady := plainLoad(200, 200)
	d := Compare(loadRun(steady, searchLoad(1000)), loadRun(steady), DiffOptions{})
	r := findRow(t, d, "many-hosts", "load.find-limit.capacity")
	if r.Status != DiffMissing || r.Old != "1000 calls/s" || r.New != "" || d.Regressions != 0 {
		t.Fatalf("load missing in the new run: row %+v, %d regressions; want missing, not a regression", r, d.Regressions)
	}
	d = Compare(loadRun(steady), loadRun(steady, searchLoad(1000)), DiffOptions{})
	if r := findRow(t, d, "many-hosts", "load.find-limit.capacity"); r.Status != DiffNew || r.New != "1000 calls/s" {
		t.Fatalf("load only in the new run: row %+v, want new", r)
	}
}

func TestCompareLoadRateSkips(t *testing.T) {
	t.Parallel()
	f := func(old, cur Load, metric, status, note string) {
		t.Helper()
		d := Compare(loadRun(old), loadRun(cur), DiffOptions{Tolerance: 0.1})
		r := findRow(t, d, "many-hosts", metric)
		if r.Status != status || !strings.Contains(r.Note, note) {
			t.Fatalf("unexpected row %+v; want status %s and a note with %q", r, status, note)
		}
	}
	// Without a capacity search, the achieved rate at the same offered rate.
	f(plainLoad(200, 199.8), plainLoad(200, 150), "load.steady.achieved_rate", DiffRegression, "")
	f(plainLoad(200, 199.8), plainLoad(200, 195), "load.steady.achieved_rate", DiffOK, "")
	f(plainLoad(200, 199.8), plainLoad(100, 99.9), "load.steady.achieved_rate", DiffSkipped, "offered rate changed (200/s → 100/s)")
	// Capacities under other limits, or from one run only, do not compare.
	tighter := searchLoad(500)
	tighter.Capacity.Limits.P99MS = 100
	f(searchLoad(1000), tighter, "load.find-limit.capacity", DiffSkipped, "limits changed")
	plain := searchLoad(0)
	plain.Capacity = nil
	f(searchLoad(1000), plain, "load.find-limit.achieved_rate", DiffSkipped, "capacity search in one run only")
	// A generator that fell behind measured itself, not the server.
	invalid := searchLoad(500)
	invalid.Invalid = "send lag p99 40 ms"
	f(searchLoad(1000), invalid, "load.find-limit.capacity", DiffSkipped, "invalid")
}

func TestCompareLoadToolP99(t *testing.T) {
	t.Parallel()
	f := func(old, cur Load, status, note string) {
		t.Helper()
		d := Compare(loadRun(old), loadRun(cur), DiffOptions{})
		r := findRow(t, d, "many-hosts", "load.steady.consult.p99")
		if r.Status != status || r.Unit != "ms" || !strings.Contains(r.Note, note) {
			t.Fatalf("unexpected row %+v; want status %s and a note with %q", r, status, note)
		}
	}
	f(plainLoad(200, 200, p99Tool("consult", 10000, 10)), plainLoad(200, 200, p99Tool("consult", 10000, 30)), DiffRegression, "")
	f(plainLoad(200, 200, p99Tool("consult", 10000, 30)), plainLoad(200, 200, p99Tool("consult", 10000, 10)), DiffImproved, "")
	// A p99 of too few calls is not compared, or does not count.
	f(plainLoad(200, 200, p99Tool("consult", 50, 10)), plainLoad(200, 200, p99Tool("consult", 50, 30)), DiffSkipped, "fewer than 100 calls")
	f(plainLoad(200, 200, p99Tool("consult", 500, 10)), plainLoad(200, 200, p99Tool("consult", 500, 30)), DiffNoise, "a p99 of 500 samples rests on 5")
	// A generator late by 15 ms explains 20 ms more.
	late := plainLoad(200, 200, p99Tool("consult", 10000, 30))
	late.SendLag = &Latencies{Count: 10000, P99: 15}
	f(plainLoad(200, 200, p99Tool("consult", 10000, 10)), late, DiffNoise, "noise floor 30.0 ms")
	// A mix entry gone from the new run is missing, not a regression.
	f(plainLoad(200, 200, p99Tool("consult", 10000, 10)), plainLoad(200, 200, p99Tool("other", 10000, 10)), DiffMissing, "")
}
