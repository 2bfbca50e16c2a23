package probes

import (
	"fmt"
	"time"
)

// callBudgets judges each call's own share: every call against
// CallServerMax and, made under a fault, against the run's unfaulted calls
// of its class (serverLimit); a query asked before in the scenario
// against its first run, max(RepeatFactor × first, first + RepeatSlack).
// Check names: call.server_ms[step N] and call.repeat_ms[step N].
func (t Thresholds) callBudgets(c *checker, calls []CallShare) {
	first := map[string]CallShare{}
	ref := unfaultedMax(calls)
	for _, cs := range calls {
		split := fmt.Sprintf("%q: server %s, upstream %s", cs.Name, roundMS(cs.Server), roundMS(cs.Upstream))
		if limit, why := t.serverLimit(cs, ref); limit > 0 {
			c.dur(fmt.Sprintf("call.server_ms[step %d]", cs.Step), "", "<=", cs.Server, limit, split+why)
		}
		f, seen := first[cs.Query]
		if !seen {
			first[cs.Query] = cs
			continue
		}
		if t.RepeatFactor <= 0 {
			continue
		}
		limit := relLimit(f.Server, t.RepeatFactor, t.RepeatSlack)
		c.dur(fmt.Sprintf("call.repeat_ms[step %d]", cs.Step), "", "<=", cs.Server, limit,
			fmt.Sprintf("%s; the same query in step %d (%q): server %s, upstream %s; limit max(%g × first, first + %s)",
				split, f.Step, f.Name, roundMS(f.Server), roundMS(f.Upstream), t.RepeatFactor, t.RepeatSlack))
	}
}

// unfaultedMax is, per class, the unfaulted call with the largest own
// share.
func unfaultedMax(calls []CallShare) map[string]CallShare {
	out := map[string]CallShare{}
	for _, cs := range calls {
		if m, ok := out[cs.Class]; !cs.Faulted && (!ok || cs.Server > m.Server) {
			out[cs.Class] = cs
		}
	}
	return out
}

// serverLimit is a call's own-share budget: CallServerMax, lowered for a
// call made under a fault to max(CallServerFactor × ref, ref +
// CallServerSlack), ref the largest share of the run's unfaulted calls of
// its class; why says which, for the check's detail. 0: not judged.
func (t Thresholds) serverLimit(cs CallShare, ref map[string]CallShare) (time.Duration, string) {
	limit, why := t.CallServerMax, ""
	r, ok := ref[cs.Class]
	if !cs.Faulted || !ok || t.CallServerFactor <= 0 {
		return limit, why
	}
	rel := relLimit(r.Server, t.CallServerFactor, t.CallServerSlack)
	if limit <= 0 || rel < limit {
		limit = rel
		why = fmt.Sprintf("; under a fault: limit max(%g × %s, + %s), the largest own share of the unfaulted %s calls (step %d, %q)",
			t.CallServerFactor, roundMS(r.Server), t.CallServerSlack, cs.Class, r.Step, r.Name)
	}
	return limit, why
}

func roundMS(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
