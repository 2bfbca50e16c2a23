package scenarios

import (
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
				if got != tt.want[i] || s.len(k) != len(got) {
					t.Errorf("arrival %d: %q (len %d), want %q", k, got, s.len(k), tt.want[i])
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
	if keys := sortedKeys(got); strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("unjudged %v, want %v (trials at ≤ 80 %% of the capacity stay judged)", keys, want)
	}
}
