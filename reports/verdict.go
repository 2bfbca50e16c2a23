package reports

import (
	"fmt"
	"strings"
)

// Exit statuses of a run, as `secondbrain replay` returns them.
const (
	ExitPass    = 0 // every scenario passed
	ExitFail    = 1 // a scenario failed: always wins
	ExitBroken  = 2 // a scenario could not run (the harness or the server broke)
	ExitInvalid = 3 // nothing failed, but a scenario could not be judged
)

// Outcome is a run's verdict and exit status with the scenarios behind it.
type Outcome struct {
	Verdict string // VerdictPass, VerdictFail or VerdictInvalid
	Exit    int    // one of the Exit* statuses
	Passed  []string
	Failed  []string // judged and failed
	Broken  []string // could not run; their verdict is fail too
	Invalid []string // could not be judged: the harness fell behind
	// Tolerated is set when the run is invalid but exits ExitPass because
	// no more than the tolerated number of scenarios were invalid.
	Tolerated bool
}

// Judge decides a run's verdict and exit status from its scenarios' verdicts
// (ScenarioVerdict). It is the only place that does.
//
// A failure always wins: any failed scenario makes the run FAIL and exit 1,
// whatever else was invalid or could not run. Else a scenario that could
// not run makes it FAIL with exit 2; else an invalid scenario makes it
// INVALID with exit 3 — or exit 0 when at most tolerateInvalid scenarios
// were invalid (the verdict still says invalid); else PASS.
func Judge(scs []Scenario, tolerateInvalid int) Outcome {
	var o Outcome
	for i := range scs {
		sc := &scs[i]
		v := sc.Verdict
		if v == "" {
			v = ScenarioVerdict(sc)
		}
		switch {
		case sc.Error != "":
			o.Broken = append(o.Broken, sc.Name)
		case v == VerdictFail:
			o.Failed = append(o.Failed, sc.Name)
		case v == VerdictInvalid:
			o.Invalid = append(o.Invalid, sc.Name)
		default:
			o.Passed = append(o.Passed, sc.Name)
		}
	}
	switch {
	case len(o.Failed) > 0:
		o.Verdict, o.Exit = VerdictFail, ExitFail
	case len(o.Broken) > 0:
		o.Verdict, o.Exit = VerdictFail, ExitBroken
	case len(o.Invalid) > 0:
		o.Verdict, o.Exit = VerdictInvalid, ExitInvalid
		if len(o.Invalid) <= tolerateInvalid {
			o.Exit, o.Tolerated = ExitPass, true
		}
	default:
		o.Verdict, o.Exit = VerdictPass, ExitPass
	}
	return o
}

// Err says why the run did not pass, or nil when it exits ExitPass.
func (o Outcome) Err() error {
	var parts []string
	if len(o.Failed) > 0 {
		parts = append(parts, "failed: "+strings.Join(o.Failed, ", "))
	}
	if len(o.Broken) > 0 {
		parts = append(parts, "could not run: "+strings.Join(o.Broken, ", "))
	}
	if len(o.Invalid) > 0 {
		parts = append(parts, "invalid (the harness fell behind, nothing judged): "+strings.Join(o.Invalid, ", "))
	}
	if o.Exit == ExitPass {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// ScenarioVerdict decides one scenario's verdict: fail when it could not
// run (Error) or a step or check failed, unless the watcher judged those
// failures to be the harness's own lateness (Invalid set); invalid then;
// else pass.
func ScenarioVerdict(sc *Scenario) string {
	switch {
	case sc.Error != "":
		return VerdictFail
	case sc.Invalid != "":
		return VerdictInvalid
	case Failed(sc):
		return VerdictFail
	}
	return VerdictPass
}

// Failed says whether a step or a check of sc failed.
func Failed(sc *Scenario) bool {
	for _, st := range sc.Steps {
		if !st.Pass {
			return true
		}
	}
	for _, c := range sc.Checks {
		if !c.Pass {
			return true
		}
	}
	return false
}
