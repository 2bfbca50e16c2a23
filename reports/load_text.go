package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// UnitRate is the unit of a call rate in checks and diff rows. Rates are
// real calls per second: the time scale never shrinks the load.
const UnitRate = "calls/s"

// loadName names a load in tags, diff metrics and text: its own name, or
// its step when the producer gave none (two unnamed loads stay apart).
func loadName(l *Load) string {
	if l.Name != "" {
		return l.Name
	}
	return "step" + strconv.Itoa(l.Step)
}

// rateText formats a rate to one decimal, dropping a trailing ".0":
// "200/s", "199.8/s".
func rateText(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "/s"
}

// ratioText formats a ratio as a percentage: "0.25 %".
func ratioText(v float64) string { return trimFloat(v*100) + " %" }

// LoadSummaryLine is a load's figures in one line: rates, what became of
// the arrivals, how late the generator sent them, and how. The invalid
// reason is left to the caller, which shows it apart.
func LoadSummaryLine(l *Load) string {
	rates := "offered " + rateText(l.OfferedRate)
	if l.PeakRate > l.OfferedRate*1.001 {
		rates += " (peak " + rateText(l.PeakRate) + ")"
	}
	parts := []string{
		rates + ", achieved " + rateText(l.AchievedRate) + fmt.Sprintf(" over %.1f s", l.DurationMS/1000),
		fmt.Sprintf("%d sent, %d dropped, %d blocked, %d errors", l.Sent, l.Dropped, l.Blocked, l.Errors),
	}
	if l.SendLag != nil && l.SendLag.Count > 0 {
		parts = append(parts, "send lag p99 "+FormatMS(l.SendLag.P99))
	}
	if l.Clock != "" {
		parts = append(parts, "clock "+l.Clock)
	}
	if how := loadTransportText(l); how != "" {
		parts = append(parts, how)
	}
	return strings.Join(parts, "; ")
}

// loadTransportText says how the calls travelled: "http, 8 sessions over 4
// connections".
func loadTransportText(l *Load) string {
	var parts []string
	if l.Transport != "" {
		parts = append(parts, l.Transport)
	}
	if l.Sessions > 0 {
		s := fmt.Sprintf("%d session%s", l.Sessions, plural(l.Sessions))
		if l.Connections > 0 {
			s += fmt.Sprintf(" over %d connection%s", l.Connections, plural(l.Connections))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// CapacityLine is a capacity search's outcome in one sentence: "capacity:
// 900 calls/s (p50 61.2 ms, p99 201.3 ms); above it: p99 268 ms > 250 ms at
// 950/s; search stopped: resolution 5 %".
func CapacityLine(c *Capacity) string {
	if c == nil {
		return ""
	}
	var s string
	if c.Rate > 0 {
		s = fmt.Sprintf("capacity: %s (p50 %s, p99 %s)", FormatValue(c.Rate, UnitRate), FormatMS(c.P50MS), FormatMS(c.P99MS))
		switch {
		case c.Limit != "":
			s += "; above it: " + c.Limit
		default:
			s += "; above it: no trial failed up to the search's maximum"
		}
	} else {
		s = "capacity: none, no trial held the limits"
		if c.Limit != "" {
			s += "; at the lowest rate: " + c.Limit
		}
	}
	if c.Bound != "" {
		s += "; search stopped: " + c.Bound
	}
	return s
}

// CapacityLimitsText lists what a trial had to hold: "p99 ≤ 250 ms, errors
// ≤ 1 %, dropped ≤ 1 %". Zero limits were not set and are left out.
func CapacityLimitsText(lim CapacityLimits) string {
	var parts []string
	if lim.P99MS > 0 {
		parts = append(parts, "p99 ≤ "+FormatMS(lim.P99MS))
	}
	if lim.ErrorRatio > 0 {
		parts = append(parts, "errors ≤ "+ratioText(lim.ErrorRatio))
	}
	if lim.DroppedRatio > 0 {
		parts = append(parts, "dropped ≤ "+ratioText(lim.DroppedRatio))
	}
	return strings.Join(parts, ", ")
}

// LoadLine is a load in one line for summaries: "load steady: offered
// 200/s, achieved 199.8/s, p99 12.3 ms, errors 0, dropped 0; capacity
// 840/s (p99 41.0 ms)".
func LoadLine(l *Load) string {
	s := fmt.Sprintf("load %s: offered %s, achieved %s", loadName(l), rateText(l.OfferedRate), rateText(l.AchievedRate))
	if lat := LoadLatency(l); lat != nil {
		s += ", p99 " + FormatMS(lat.P99)
	}
	s += fmt.Sprintf(", errors %d, dropped %d", l.Errors, l.Dropped)
	if c := l.Capacity; c != nil {
		if c.Rate > 0 {
			s += fmt.Sprintf("; capacity %s (p99 %s)", rateText(c.Rate), FormatMS(c.P99MS))
		} else {
			s += "; capacity: none passed"
		}
	}
	if l.Invalid != "" {
		s += "; invalid: " + oneLine(l.Invalid)
	}
	return s
}

// LoadLatency is the corrected latency of all the load's calls: the tools'
// histograms merged. A producer that kept no histograms gets the worst
// tool's figures instead, which bound the merged p99 from above. Nil
// without a measured call.
func LoadLatency(l *Load) *Latencies {
	var ls []*Latencies
	var worst *Latencies
	for i := range l.Tools {
		t := l.Tools[i].Latency
		if t == nil || t.Count == 0 {
			continue
		}
		ls = append(ls, t)
		if worst == nil || t.P99 > worst.P99 {
			worst = t
		}
	}
	switch len(ls) {
	case 0:
		return nil
	case 1:
		return ls[0]
	}
	merged, err := MergeLatencies(ls...)
	if err != nil {
		// A missing (ErrNoHistogram) or corrupt histogram: a summary line
		// is no place to fail, and the worst tool still bounds the truth.
		return worst
	}
	return merged
}

// LoadError is one class of a tool's failed calls.
type LoadError struct {
	Class  string
	Count  int64
	Sample string // the class's first message
}

// LoadErrors lists a tool's error classes by name, so the order never
// depends on the map.
func LoadErrors(t *LoadTool) []LoadError {
	out := make([]LoadError, 0, len(t.Errors))
	for class, n := range t.Errors {
		out = append(out, LoadError{Class: class, Count: n, Sample: t.ErrorSamples[class]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}
