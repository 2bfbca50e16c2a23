package probes

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/faults"
)

// CanaryResult is one canary's outcome for `replay --canaries`.
type CanaryResult struct {
	Canary   string
	Scenario string // the scenario it ran in ("" if not said)
	Expected string // cause label the rule set must name
	Got      string // cause the diagnosis named ("" if none)
	Culprit  string
	Caught   bool // the scenario's verdict failed
	Named    bool // the diagnosis named the expected cause (and culprit, if asked)
}

// Pass reports whether the canary was both caught and named.
func (r CanaryResult) Pass() bool { return r.Caught && r.Named }

// JudgeCanary checks the run of one fault of the server's registry: its
// verdict must have failed and its diagnosis must name the fault's cause,
// with a culprit frame in the fault's culprit (a function, or a package
// prefix such as "logship.").
func JudgeCanary(f faults.Fault, verdict string, d *reports.Diagnosis) CanaryResult {
	r := CanaryResult{Canary: f.Name, Expected: f.Cause, Caught: verdict == reports.VerdictFail}
	if d != nil {
		r.Got, r.Culprit = d.Cause, d.Culprit
	}
	r.Named = r.Expected != "" && r.Got == r.Expected && strings.HasPrefix(r.Culprit, f.Culprit)
	return r
}

// WriteConfusion writes the canaries' confusion table: one row per
// canary (expected cause) and one column per cause named, plus caught and
// named columns and a total line "N/M canaries caught and named".
func WriteConfusion(w io.Writer, results []CanaryResult) error {
	causes := []string{CauseLogShippingIO, CauseStderrWrite, CauseSemaphoreHeld, CauseWorkerPool,
		CauseConnPool, CauseBlockingFile, CauseGoroutineLeak, CauseRequestCPU, CauseLockHeld, CauseSlowUpstream, CauseUnknown, "none"}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprint(tw, "canary \\ named\t")
	for _, c := range causes {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprint(tw, "caught\tpass\tculprit\n")
	pass := 0
	for _, r := range results {
		got := r.Got
		if got == "" {
			got = "none"
		}
		label := r.Canary
		if r.Scenario != "" {
			label += " in " + r.Scenario
		}
		fmt.Fprintf(tw, "%s (%s)\t", label, r.Expected)
		for _, c := range causes {
			mark := "."
			if c == got {
				mark = "X"
			}
			fmt.Fprintf(tw, "%s\t", mark)
		}
		if r.Pass() {
			pass++
		}
		fmt.Fprintf(tw, "%v\t%v\t%s\n", r.Caught, r.Pass(), r.Culprit)
	}
	fmt.Fprintf(tw, "%d/%d canaries caught and named\n", pass, len(results))
	return tw.Flush()
}
