package probes

import (
	"fmt"
	"time"
)

// callBudgets judges each call's own share: every call against
// CallServerMax, and a query asked before in the scenario against its
// first run, max(RepeatFactor × first, first + RepeatSlack). Check names:
// call.server_ms[step N] and call.repeat_ms[step N].
func (t Thresholds) callBudgets(c *checker, calls []CallShare) {
	first := map[string]CallShare{}
	for _, cs := range calls {
		split := fmt.Sprintf("%q: server %s, upstream %s", cs.Name, roundMS(cs.Server), roundMS(cs.Upstream))
		if t.CallServerMax > 0 {
			c.dur(fmt.Sprintf("call.server_ms[step %d]", cs.Step), "", "<=", cs.Server, t.CallServerMax, split)
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

func roundMS(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
