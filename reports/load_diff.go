package reports

import (
	"fmt"
	"math"
)

// MinLoadToolCalls is how many calls a load's mix entry needs in both runs
// for a change in its p99 to be compared at all: below it the p99 is one
// call's latency. (From there to 1,000 calls judgeNoise still counts the
// change as noise: the tail rests on fewer than MinTailSamples calls.)
const MinLoadToolCalls = 100

// sameOfferedRate: achieved rates are comparable only when both runs
// offered the same load; profiles are written in whole calls/s, so 0.5 %
// covers rounding, not a changed profile.
const sameOfferedRate = 0.005

// compareLoads compares the loads two runs of a scenario share (matched by
// name) and lists the ones only one run has, as new or missing rows.
func (d *Diff) compareLoads(o, n *Scenario, opts DiffOptions, floor float64) {
	oldByName := map[string]*Load{}
	for i := range o.Loads {
		oldByName[loadName(&o.Loads[i])] = &o.Loads[i]
	}
	seen := map[string]bool{}
	for i := range n.Loads {
		nl := &n.Loads[i]
		seen[loadName(nl)] = true
		if ol := oldByName[loadName(nl)]; ol != nil {
			d.compareLoad(n.Name, ol, nl, opts, floor)
			continue
		}
		metric, v := loadRate(nl)
		d.add(DiffRow{Scenario: n.Name, Metric: metric, Unit: UnitRate, New: FormatValue(v, UnitRate), NewValue: v, Status: DiffNew})
	}
	for i := range o.Loads {
		if ol := &o.Loads[i]; !seen[loadName(ol)] {
			metric, v := loadRate(ol)
			d.add(DiffRow{Scenario: n.Name, Metric: metric, Unit: UnitRate, Old: FormatValue(v, UnitRate), OldValue: v, Status: DiffMissing})
		}
	}
}

// loadRate is the rate a load is judged by: the capacity it found when it
// searched for one, else the rate it achieved.
func loadRate(l *Load) (metric string, v float64) {
	if l.Capacity != nil {
		return "load." + loadName(l) + ".capacity", l.Capacity.Rate
	}
	return "load." + loadName(l) + ".achieved_rate", l.AchievedRate
}

// compareLoad compares one load of two runs: its rate, then each mix
// entry's corrected p99. A load whose generator fell behind in either run
// says nothing about the server and is skipped whole.
func (d *Diff) compareLoad(scenario string, o, n *Load, opts DiffOptions, floor float64) {
	if o.Invalid != "" || n.Invalid != "" {
		metric, _ := loadRate(n)
		d.add(DiffRow{Scenario: scenario, Metric: metric, Unit: UnitRate, Status: DiffSkipped,
			Note: "a run's load is invalid (the generator fell behind): not compared"})
		return
	}
	d.add(compareLoadRate(scenario, o, n, opts))
	// Latencies run from the intended send time, so the generator's own
	// lateness is in them, as the prober's is in the heartbeat.
	for _, l := range []*Load{o, n} {
		if l.SendLag != nil {
			floor = math.Max(floor, MachineNoiseFactor*l.SendLag.P99)
		}
	}
	d.compareLoadTools(scenario, o, n, opts, floor)
}

// compareLoadRate compares the capacities (or achieved rates) of a load,
// higher being better. It skips what the two runs did not measure alike.
func compareLoadRate(scenario string, o, n *Load, opts DiffOptions) DiffRow {
	om, ov := loadRate(o)
	nm, nv := loadRate(n)
	row := DiffRow{Scenario: scenario, Metric: nm, Unit: UnitRate}
	skip := func(note string) DiffRow {
		row.Old, row.OldValue, row.New, row.NewValue = FormatValue(ov, UnitRate), ov, FormatValue(nv, UnitRate), nv
		row.Status, row.Note = DiffSkipped, note
		return row
	}
	switch {
	case om != nm:
		return skip("a capacity search in one run only")
	case o.Capacity != nil && o.Capacity.Limits != n.Capacity.Limits:
		return skip("the capacity limits changed")
	case o.Capacity == nil && math.Abs(n.OfferedRate-o.OfferedRate) > sameOfferedRate*o.OfferedRate:
		return skip(fmt.Sprintf("the offered rate changed (%s → %s)", rateText(o.OfferedRate), rateText(n.OfferedRate)))
	}
	return compareValue(row, ov, nv, -1, opts)
}

// compareLoadTools compares the corrected p99 of each mix entry (matched
// by name) two runs of a load share, and lists the others.
func (d *Diff) compareLoadTools(scenario string, o, n *Load, opts DiffOptions, floor float64) {
	oldByName := map[string]*LoadTool{}
	for i := range o.Tools {
		oldByName[o.Tools[i].Name] = &o.Tools[i]
	}
	metric := func(t *LoadTool) string { return "load." + loadName(n) + "." + t.Name + ".p99" }
	seen := map[string]bool{}
	for i := range n.Tools {
		nt := &n.Tools[i]
		seen[nt.Name] = true
		row := DiffRow{Scenario: scenario, Metric: metric(nt), Unit: "ms"}
		ot := oldByName[nt.Name]
		if ot == nil {
			row.Status = DiffNew
			if nt.Latency != nil {
				row.New, row.NewValue = FormatMS(nt.Latency.P99), nt.Latency.P99
			}
			d.add(row)
			continue
		}
		d.add(compareLoadToolP99(row, ot, nt, opts, floor))
	}
	for i := range o.Tools {
		if ot := &o.Tools[i]; !seen[ot.Name] {
			row := DiffRow{Scenario: scenario, Metric: metric(ot), Unit: "ms", Status: DiffMissing}
			if ot.Latency != nil {
				row.Old, row.OldValue = FormatMS(ot.Latency.P99), ot.Latency.P99
			}
			d.add(row)
		}
	}
}

// compareLoadToolP99 judges one mix entry's corrected p99 like the
// heartbeat's: tolerance, then the tail's sample count and the noise floor.
func compareLoadToolP99(row DiffRow, o, n *LoadTool, opts DiffOptions, floor float64) DiffRow {
	if o.Latency == nil || n.Latency == nil || min(o.Latency.Count, n.Latency.Count) < MinLoadToolCalls {
		row.Status, row.Note = DiffSkipped, fmt.Sprintf("fewer than %d calls in a run: a p99 of one call", MinLoadToolCalls)
		if o.Latency != nil && n.Latency != nil {
			row.Old, row.OldValue, row.New, row.NewValue = FormatMS(o.Latency.P99), o.Latency.P99, FormatMS(n.Latency.P99), n.Latency.P99
		}
		return row
	}
	row = compareValue(row, o.Latency.P99, n.Latency.P99, +1, opts)
	return judgeNoise(row, "p99", min(o.Latency.Count, n.Latency.Count), windowCounts{}, floor)
}
