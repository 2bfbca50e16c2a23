package reports_test

import (
	"fmt"
	"os"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
)

func ExampleNewLatencies() {
	h := reports.NewHistogram()
	for i := 1; i <= 100; i++ {
		reports.Record(h, time.Duration(i)*time.Millisecond)
	}
	l, err := reports.NewLatencies(h)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Count, reports.FormatMS(l.P50), reports.FormatMS(l.P99), reports.FormatMS(l.Max))
	// Output: 100 50.0 ms 99.0 ms 100.0 ms
}

func ExampleCompare() {
	lat := func(p99 float64) *reports.Latencies {
		return &reports.Latencies{Count: 1000, P99: p99, P999: p99, Max: p99}
	}
	run := func(p99 float64) *reports.Result {
		return &reports.Result{Scenarios: []reports.Scenario{{
			Name: "back-to-back", Verdict: reports.VerdictPass,
			Heartbeat: &reports.Heartbeat{Ping: lat(p99)},
		}}}
	}
	d := reports.Compare(run(12), run(24), reports.DiffOptions{})
	if err := reports.NewDiffReporter(d, true)(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// SCENARIO      METRIC                OLD      NEW      CHANGE   STATUS      NOTE
	// back-to-back  heartbeat.ping.p99    12.0 ms  24.0 ms  +100.0%  REGRESSION
	// back-to-back  heartbeat.ping.p99.9  12.0 ms  24.0 ms  +100.0%  noise       not counted: a p99.9 of 1000 samples rests on 1; it needs 10000
	// back-to-back  heartbeat.ping.max    12.0 ms  24.0 ms  +100.0%  noise       not counted: a max is one sample
	// (1 unchanged row hidden)
	// 2 worsenings not counted as noise (too few samples behind the statistic, or within the runs' prober lateness: see NOTE)
	// 1 regression beyond tolerance 20% (noise floor 1.00 ms)
}
