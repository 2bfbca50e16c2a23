package scenarios

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/secondbrain-dev/secondbrain/reports"
)

func TestSessionNames(t *testing.T) {
	tests := []struct {
		name     string
		n, every int
		round    uint64
		ks       []uint64
		want     []string
	}{
		{"reuse", 2, 0, 0, []uint64{0, 1, 2, 3}, []string{"l-s0", "l-s1", "l-s0", "l-s1"}},
		{"renew after two", 2, 2, 0, []uint64{0, 1, 2, 3, 4, 5}, []string{"l-s0-g0", "l-s1-g0", "l-s0-g0", "l-s1-g0", "l-s0-g1", "l-s1-g1"}},
		{"fresh per call", 1, 1, 0, []uint64{0, 1, 12}, []string{"l-s0-g0", "l-s0-g1", "l-s0-g12"}},
		{"a trial's own", 3, 0, 7, []uint64{4}, []string{"l-t7-s1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSessionNames("l", tt.n, tt.every, 1)
			s.round = tt.round
			for i, k := range tt.ks {
				got := string(s.append(nil, k))
				if got != tt.want[i] {
					t.Errorf("arrival %d: %q, want %q", k, got, tt.want[i])
				}
			}
		})
	}
}

func TestUnjudgedPhases(t *testing.T) {
	res := &reports.Scenario{Loads: []reports.Load{
		{Name: "plain"},
		{Name: "cap", Capacity: &reports.Capacity{Rate: 200, Trials: []reports.Trial{
			{Rate: 50, Pass: true}, {Rate: 100, Pass: true}, {Rate: 200, Pass: true},
			{Rate: 400, Broke: "p99"}, {Rate: 300, Broke: "p99"}, {Rate: 160, Pass: true},
		}}},
	}}
	got := unjudgedPhases(res)
	want := []string{"cap-at-200", "cap-at-300", "cap-at-400"}
	if keys := slices.Sorted(maps.Keys(got)); strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("unjudged %v, want %v (trials at ≤ 80 %% of the capacity stay judged)", keys, want)
	}
}

// TestRunner_load: a load step and a capacity search against the stand-in
// server, over both transports and protocol versions: every arrival is
// accounted for (sent + dropped = scheduled), every call sent is answered,
// and the answers reach the right tool's histogram.
func TestRunner_load(t *testing.T) {
	t.Parallel()
	body := `
server:
  env: {SB_TEST_SERVER: "1", SB_TEST_CALL_MS: "2"}
project: {files: 2, size: 2KiB, inline_files: 2, inline_size: 512}
steps:
  - load:
      name: steady
      rate: 60
      duration: 1s
      sessions: 2
      churn_every: 3
      mix:
        - {weight: 2, call: {tool: list_models}}
        - {call: {tool: chat_with_o3, context: []}}
  - load:
      name: search
      mix: [{call: {tool: list_models}}]
      find_limit: {start: 20, max: 40, trial: 250ms, cooldown: 50ms}
`
	for _, tc := range []struct{ transport, protocol string }{
		{"stdio", ProtocolLegacy}, {"http", ProtocolLegacy}, {"stdio", ProtocolStateless}, {"http", ProtocolStateless},
	} {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t, tc.transport, &stubFakes{})
			opts.Protocol = tc.protocol
			res := runAll(t, opts, mustParse(t, body))
			if len(res) != 1 || res[0].Error != "" {
				t.Fatalf("results %+v", res)
			}
			r := res[0]
			if len(r.Loads) != 2 {
				t.Fatalf("%d loads recorded, want 2", len(r.Loads))
			}
			l := r.Loads[0]
			if l.Scheduled != 60 || l.Sent+l.Dropped != l.Scheduled || l.Completed != l.Sent || l.Errors != 0 {
				t.Errorf("steady: scheduled %d, sent %d, dropped %d, completed %d, errors %d: want 60 = sent + dropped, all answered",
					l.Scheduled, l.Sent, l.Dropped, l.Completed, l.Errors)
			}
			counts := map[string]int64{}
			for _, tool := range l.Tools {
				counts[tool.Name] = tool.Latency.Count
				if len(tool.Errors) > 0 {
					t.Errorf("%s: errors %v %v", tool.Name, tool.Errors, tool.ErrorSamples)
				}
			}
			if counts["list_models"] < 30 || counts["chat_with_o3"] < 10 || counts["list_models"]+counts["chat_with_o3"] != l.Completed {
				t.Errorf("per-tool answers %v of %d: want about 2:1, adding up", counts, l.Completed)
			}
			if c := r.Loads[1].Capacity; c == nil || len(c.Trials) == 0 || c.Rate == 0 {
				t.Errorf("search: capacity %+v, want trials and a passing rate", c)
			}
			for _, s := range r.Steps {
				if s.Kind == KindLoad && !s.Pass {
					t.Errorf("load step %q failed: %s", s.Name, s.Detail)
				}
			}
		})
	}
}

// TestLoadValidity: a late generator makes a load (and its scenario)
// invalid only when what failed is within its lateness; passes, errors,
// drops and failures beyond the lateness stand.
func TestLoadValidity(t *testing.T) {
	late := &reports.Latencies{P99: 5, Max: 8}     // ms: past the 2 ms bound
	onTime := &reports.Latencies{P99: 0.3, Max: 1} // ms
	p99 := func(value float64) reports.Check {
		return reports.Check{Name: "load_p99[l]", Value: value, Threshold: 100, Pass: value <= 100}
	}
	errs := reports.Check{Name: "load_error_ratio[l]", Value: 0.1, Threshold: 0, Pass: false}
	search := func(trialInvalid string) *reports.Capacity {
		return &reports.Capacity{Rate: 50, Trials: []reports.Trial{{Rate: 50, Pass: true}, {Rate: 100, Invalid: trialInvalid, Broke: "p99"}}}
	}
	floor := reports.Check{Name: "capacity[l]", Value: 50, Threshold: 80, Pass: false}
	tests := []struct {
		name        string
		wake        *reports.Latencies
		capacity    *reports.Capacity
		checks      []reports.Check
		wantLoad    bool // the load is invalid
		wantInvalid bool // the scenario is invalid
	}{
		{"p99 failed within the lag", late, nil, []reports.Check{p99(103)}, true, true},
		{"p99 failed beyond the lag", late, nil, []reports.Check{p99(400)}, false, false},
		{"passed while late", late, nil, []reports.Check{p99(50)}, false, false},
		{"errors while late", late, nil, []reports.Check{p99(103), errs}, true, false},
		{"on time", onTime, nil, []reports.Check{p99(103)}, false, false},
		{"search stopped by the generator", late, search("clock late"), []reports.Check{floor}, true, true},
		{"search stopped by the server", late, search(""), []reports.Check{floor}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &reports.Load{Name: "l", WakeLag: tt.wake, Capacity: tt.capacity}
			rec.Invalid = loadInvalid(rec, tt.checks)
			if got := rec.Invalid != ""; got != tt.wantLoad {
				t.Errorf("load invalid %q, want invalid %v", rec.Invalid, tt.wantLoad)
			}
			res := &reports.Scenario{Loads: []reports.Load{*rec}, Checks: tt.checks,
				Steps: []reports.Step{{Kind: KindLoad, Pass: false}}}
			judgeLoadValidity(res)
			if got := res.Invalid != ""; got != tt.wantInvalid {
				t.Errorf("scenario invalid %q, want invalid %v", res.Invalid, tt.wantInvalid)
			}
		})
	}
}
