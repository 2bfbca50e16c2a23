package reports

import (
	"fmt"
	"strings"
)

// CalibrationLine says how late this machine woke the prober before the
// first scenario, or "" when the run was not calibrated.
func CalibrationLine(r *Result) string {
	c := r.Run.Calibration
	if c == nil {
		return ""
	}
	return fmt.Sprintf("Prober clock calibrated before the first scenario (%d wake-ups every %s): "+
		"%s wakes p50 %s, p99 %s late; to the probe's goroutine p50 %s, p99 %s; Go timers (for reference) p50 %s, p99 %s.",
		c.Kernel.Samples, FormatMS(c.IntervalMS), c.Kernel.Clock, FormatMS(c.Kernel.P50MS), FormatMS(c.Kernel.P99MS),
		FormatMS(c.Prober.P50MS), FormatMS(c.Prober.P99MS), FormatMS(c.GoTimer.P50MS), FormatMS(c.GoTimer.P99MS))
}

// OutcomeLines name the scenarios behind a run's verdict, one line per
// kind (failed, could not run, invalid), failures first.
func OutcomeLines(r *Result) []string {
	o := Judge(r.Scenarios, 0)
	var out []string
	if len(o.Failed) > 0 {
		out = append(out, "Failed: "+strings.Join(o.Failed, ", ")+".")
	}
	if len(o.Broken) > 0 {
		out = append(out, "Could not run: "+strings.Join(o.Broken, ", ")+".")
	}
	if len(o.Invalid) > 0 {
		out = append(out, "Invalid, not judged (the harness fell behind): "+strings.Join(o.Invalid, ", ")+".")
	}
	return out
}

// InvalidAdvice tells the user what to do about the run's invalid
// scenarios, from the calibration and the reasons they were invalid; ""
// when none was invalid.
func InvalidAdvice(r *Result) string {
	var lagged, other bool
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		if sc.Verdict != VerdictInvalid {
			continue
		}
		if strings.Contains(sc.Invalid, "send lag") {
			lagged = true
		} else {
			other = true
		}
	}
	if !lagged && !other {
		return ""
	}
	var b strings.Builder
	b.WriteString("What to do: an invalid scenario says nothing about the server, good or bad. ")
	if c := r.Run.Calibration; c != nil && lagged {
		if strings.Contains(joinInvalid(r), "machine itself") {
			fmt.Fprintf(&b, "This machine wakes a sleeping thread late even when idle (to the probe p99 %s): "+
				"run on a quieter machine — no other jobs on its CPUs, a dedicated CI runner. ", FormatMS(c.Prober.P99MS))
		} else {
			fmt.Fprintf(&b, "The machine was quiet at calibration (to the probe p99 %s) and got busier during the run: "+
				"stop what else competes for its CPUs. ", FormatMS(c.Prober.P99MS))
		}
	}
	b.WriteString("Replay the invalid scenarios by name (`secondbrain replay NAME…`), or let replay retry them itself " +
		"(`--retry-invalid N`, default 2); a failed scenario is never retried.")
	if other {
		b.WriteString(" Too few heartbeat samples: lengthen the baseline (`--baseline-hold`) or shorten `--heartbeat-interval`.")
	}
	return b.String()
}

func joinInvalid(r *Result) string {
	var parts []string
	for i := range r.Scenarios {
		parts = append(parts, r.Scenarios[i].Invalid)
	}
	return strings.Join(parts, "\n")
}

// AttemptLines describe a scenario's earlier, invalid attempts and its last
// one, oldest first; nil when it ran once.
func AttemptLines(sc *Scenario) []string {
	if len(sc.Attempts) == 0 {
		return nil
	}
	out := make([]string, 0, len(sc.Attempts)+1)
	for i, a := range sc.Attempts {
		out = append(out, fmt.Sprintf("attempt %d: %s in %.1f s — %s", i+1, a.Verdict, a.DurationMS/1000, a.Invalid))
	}
	last := fmt.Sprintf("attempt %d: %s in %.1f s", len(sc.Attempts)+1, sc.Verdict, sc.DurationMS/1000)
	if sc.Invalid != "" {
		last += " — " + sc.Invalid
	}
	return append(out, last+" (this result)")
}
