package reports

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Defaults of DiffOptions.
const (
	// DefaultTolerance lets a value grow by 20 % before it is a regression.
	DefaultTolerance = 0.2
	// DefaultFloorMS ignores latency changes under 1 ms: sub-millisecond
	// pings move by more than 20 % from run to run on a shared 2-core CI
	// machine without meaning anything.
	DefaultFloorMS = 1.0
)

// DiffOptions tune Compare. The zero value means the defaults.
type DiffOptions struct {
	// Tolerance is the relative worsening allowed (0.2 = +20 %).
	// Zero means DefaultTolerance; a negative value means none allowed.
	Tolerance float64
	// FloorMS is the absolute change in milliseconds under which latencies
	// are never a regression. Zero means DefaultFloorMS; negative means none.
	FloorMS float64
}

func (o DiffOptions) tolerance() float64 {
	switch {
	case o.Tolerance == 0:
		return DefaultTolerance
	case o.Tolerance < 0:
		return 0
	}
	return o.Tolerance
}

func (o DiffOptions) floorMS() float64 {
	switch {
	case o.FloorMS == 0:
		return DefaultFloorMS
	case o.FloorMS < 0:
		return 0
	}
	return o.FloorMS
}

// floor is the noise floor for a unit: FloorMS for latencies, half a unit
// for counts (any whole increase counts), 0.01 for ratios, none for rates.
func (o DiffOptions) floor(unit string) float64 {
	switch unit {
	case "ms":
		return o.floorMS()
	case "count", "":
		return 0.5
	case "ratio":
		return 0.01
	case UnitRate:
		// No floor: a capacity is already the outcome of repeated trials at
		// the search's resolution, and an achieved rate follows the offered
		// one; the tolerance alone judges a rate.
		return 0
	}
	return 0
}

// Statuses of a DiffRow.
const (
	DiffOK         = "ok"
	DiffRegression = "REGRESSION"
	DiffImproved   = "improved"
	DiffNew        = "new"     // only in the new run
	DiffMissing    = "missing" // only in the old run
	DiffSkipped    = "skipped" // not compared: a run was invalid or lacks the value
	// DiffNoise marks a worsening that is not counted: the statistic rests
	// on too few samples, or the change is within what the runs' own
	// prober lateness explains. The note says which.
	DiffNoise = "noise"
)

// MinTailSamples is how many samples must lie at or beyond a percentile
// for a change in it to count: p99 needs 1,000 samples, p99.9 10,000, and
// a max (one sample) never counts. Two healthy runs of the same binary
// differ by 2× in a max or a p99.9 from a few hundred samples.
const MinTailSamples = 10

// BurstAlpha is how unlikely, under "same server, same machine", a tail
// worsening must be to count. Heartbeat samples are not independent: a
// context query's CPU burst delays every probe sent during it, so a p99 of
// 1,500 pings can rest on two or three bursts, and two healthy runs of the
// same binary gave one scenario's ping p99 4.1 and 9.8 ms. So a tail
// statistic is judged by windows, not samples: how many series windows of
// the new run reach the old value, against how many of the old run did
// (one-sided Fisher exact test). A server slower everywhere puts most of
// its windows above the old p99; a burst more or less does not.
const BurstAlpha = 0.01

// DiffRow compares one metric of one scenario between two runs.
type DiffRow struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"` // "verdict", "heartbeat.ping.p99", a check label, "load.<load>.capacity"…
	Unit     string  `json:"unit,omitempty"`
	Old      string  `json:"old"` // formatted, "" when absent
	New      string  `json:"new"`
	OldValue float64 `json:"old_value"`
	NewValue float64 `json:"new_value"`
	Change   float64 `json:"change"` // relative, (new-old)/old; NaN-free: 0 when old is 0
	Status   string  `json:"status"`
	Note     string  `json:"note,omitempty"`
}

// Diff is the comparison of two runs.
type Diff struct {
	Tolerance   float64   `json:"tolerance"`
	FloorMS     float64   `json:"floor_ms"` // --floor, raised to twice the runs' calibrated prober lateness
	Rows        []DiffRow `json:"rows"`
	Regressions int       `json:"regressions"`
	Noise       int       `json:"noise"` // worsenings not counted, each row saying why
}

// Compare compares the new run with the old (baseline) one, scenario by
// scenario (matched by name) and check by check (matched by name and
// phase). A row is a regression when:
//   - a scenario's verdict flips from pass to fail, or a check from pass to fail;
//   - the heartbeat ping or no-op p99, p99.9 or max, or a check's value, moves
//     the wrong way (up for "<=" checks and latencies, down for ">=") by more
//     than Tolerance × old AND more than the unit's noise floor (FloorMS for
//     milliseconds, one for counts, 0.01 for ratios);
//   - a load's capacity (or, without a capacity search, its achieved rate
//     at the same offered rate) drops by more than Tolerance × old, or a
//     mix entry's corrected p99 rises as a heartbeat p99 would count.
//     Loads are matched by name, mix entries by name.
//
// Scenarios that are invalid in either run are not compared, nor are loads
// whose generator fell behind. Scenarios, checks, loads or mix entries
// present in only one run are listed as new or missing, never as
// regressions.
func Compare(old, cur *Result, opts DiffOptions) *Diff {
	d := &Diff{Tolerance: opts.tolerance(), FloorMS: opts.floorMS()}
	for _, r := range []*Result{old, cur} {
		if c := r.Run.Calibration; c != nil {
			d.FloorMS = math.Max(d.FloorMS, 2*c.Prober.P99MS)
		}
	}
	oldByName := map[string]*Scenario{}
	for i := range old.Scenarios {
		oldByName[old.Scenarios[i].Name] = &old.Scenarios[i]
	}
	seen := map[string]bool{}
	for i := range cur.Scenarios {
		n := &cur.Scenarios[i]
		seen[n.Name] = true
		o := oldByName[n.Name]
		if o == nil {
			d.add(DiffRow{Scenario: n.Name, Metric: "verdict", New: n.Verdict, Status: DiffNew})
			continue
		}
		d.compareScenario(o, n, opts)
	}
	for i := range old.Scenarios {
		o := &old.Scenarios[i]
		if !seen[o.Name] {
			d.add(DiffRow{Scenario: o.Name, Metric: "verdict", Old: o.Verdict, Status: DiffMissing})
		}
	}
	return d
}

func (d *Diff) add(r DiffRow) {
	switch r.Status {
	case DiffRegression:
		d.Regressions++
	case DiffNoise:
		d.Noise++
	}
	d.Rows = append(d.Rows, r)
}

func (d *Diff) compareScenario(o, n *Scenario, opts DiffOptions) {
	vr := DiffRow{Scenario: n.Name, Metric: "verdict", Old: o.Verdict, New: n.Verdict, Status: DiffOK}
	switch {
	case o.Verdict == VerdictInvalid || n.Verdict == VerdictInvalid:
		vr.Status, vr.Note = DiffSkipped, "a run is invalid: numbers not compared"
		d.add(vr)
		return
	case o.Verdict == VerdictPass && n.Verdict != VerdictPass:
		vr.Status = DiffRegression
	case o.Verdict != VerdictPass && n.Verdict == VerdictPass:
		vr.Status = DiffImproved
	}
	d.add(vr)
	floor := noiseFloorMS(o, n, d.FloorMS)
	d.compareHeartbeat(o, n, opts, floor)
	d.compareChecks(o, n, opts, floor)
	d.compareLoads(o, n, opts, floor)
}

// compareHeartbeat compares the ping and no-op tails of two runs of a
// scenario, each judged against the noise its samples allow.
func (d *Diff) compareHeartbeat(o, n *Scenario, opts DiffOptions, floor float64) {
	hb := func(s *Scenario) (ping, noop *Latencies) {
		if s.Heartbeat == nil {
			return nil, nil
		}
		return s.Heartbeat.Ping, s.Heartbeat.NoopTool
	}
	op, on := hb(o)
	np, nn := hb(n)
	for _, l := range []struct {
		name     string
		old, new *Latencies
	}{{"heartbeat.ping", op, np}, {"heartbeat.noop", on, nn}} {
		if (l.old == nil || l.old.Count == 0) && (l.new == nil || l.new.Count == 0) {
			continue
		}
		for _, m := range []struct {
			name string
			get  func(*Latencies) float64
		}{
			{"p99", func(x *Latencies) float64 { return x.P99 }},
			{"p99.9", func(x *Latencies) float64 { return x.P999 }},
			{"max", func(x *Latencies) float64 { return x.Max }},
		} {
			row := DiffRow{Scenario: n.Name, Metric: l.name + "." + m.name, Unit: "ms"}
			if l.old == nil || l.old.Count == 0 || l.new == nil || l.new.Count == 0 {
				row.Status, row.Note = DiffSkipped, "heartbeat missing in one run"
				d.add(row)
				continue
			}
			row = compareValue(row, m.get(l.old), m.get(l.new), +1, opts)
			w := tailWindows(o, n, l.name, "", m.get(l.old))
			d.add(judgeNoise(row, m.name, min(l.old.Count, l.new.Count), w, floor))
		}
	}
}

// compareChecks compares the checks two runs of a scenario share, and
// lists the ones only one of them has.
func (d *Diff) compareChecks(o, n *Scenario, opts DiffOptions, floor float64) {
	oldChecks := map[string]Check{}
	for _, c := range o.Checks {
		oldChecks[CheckLabel(c)] = c
	}
	seen := map[string]bool{}
	for _, c := range n.Checks {
		label := CheckLabel(c)
		seen[label] = true
		row := DiffRow{Scenario: n.Name, Metric: label, Unit: c.Unit}
		oc, ok := oldChecks[label]
		if !ok {
			row.New, row.NewValue, row.Status = FormatValue(c.Value, c.Unit), c.Value, DiffNew
			d.add(row)
			continue
		}
		row = compareValue(row, oc.Value, c.Value, direction(c.Op), opts)
		if strings.HasPrefix(c.Name, "call.") {
			row = judgeCallShare(row)
		} else if kind, stat, count, ok := heartbeatCheckSupport(c, o, n); ok {
			row = judgeNoise(row, stat, count, tailWindows(o, n, kind, c.Phase, oc.Value), floor)
		} else if stat := checkStat(c.Name); stat == "max" || (stat != "" && c.Samples > 0) {
			row = judgeNoise(row, stat, max(c.Samples, 1), windowCounts{}, floor)
		}
		switch {
		case oc.Pass && !c.Pass:
			row.Status, row.Note = DiffRegression, "check now fails ("+c.Op+" "+FormatValue(c.Threshold, c.Unit)+")"
		case !oc.Pass && c.Pass:
			row.Status, row.Note = DiffImproved, "check now passes"
		}
		d.add(row)
	}
	for _, c := range o.Checks {
		if label := CheckLabel(c); !seen[label] {
			d.add(DiffRow{Scenario: n.Name, Metric: label, Unit: c.Unit, Old: FormatValue(c.Value, c.Unit), OldValue: c.Value, Status: DiffMissing})
		}
	}
}

// judgeNoise turns a regression row into a noise row, with the reason,
// when the statistic stat ("p99", "p999", "max"…) of count samples has too
// few samples in its tail, when the new run does not reach the old value
// in significantly more series windows than the old run did (w; see
// BurstAlpha), or when the worsening is within floorMS.
func judgeNoise(row DiffRow, stat string, count int64, w windowCounts, floorMS float64) DiffRow {
	if row.Status != DiffRegression {
		return row
	}
	tail := tailFraction(stat)
	switch {
	case tail > 0 && stat != "max" && w.known() && w.p() > BurstAlpha:
		row.Status = DiffNoise
		row.Note = fmt.Sprintf("not counted: %d of %d windows of the new run reach the old %s, against %d of %d in the old run (p=%.2g): bursts, not a slower server",
			w.newHit, w.newAll, stat, w.oldHit, w.oldAll, w.p())
	case tail > 0 && float64(count)*tail < MinTailSamples:
		row.Status = DiffNoise
		need := int64(math.Ceil(MinTailSamples / tail))
		if stat == "max" {
			row.Note = "not counted: a max is one sample"
		} else {
			row.Note = fmt.Sprintf("not counted: a %s of %d samples rests on %.0f; it needs %d", stat, count, float64(count)*tail, need)
		}
	case row.Unit == "ms" && row.NewValue-row.OldValue <= floorMS:
		row.Status = DiffNoise
		row.Note = fmt.Sprintf("not counted: within the runs' noise floor %s (prober lateness and --floor)", FormatMS(floorMS))
	}
	return row
}

// tailFraction is the share of samples at or beyond a statistic; 0 for a
// statistic that is not a tail percentile.
func tailFraction(stat string) float64 {
	switch stat {
	case "p99":
		return 0.01
	case "p999", "p99.9":
		return 0.001
	case "max":
		return math.SmallestNonzeroFloat64 // one sample, whatever the count
	}
	return 0
}

// MachineNoiseFactor: a scenario's latency change within this many times
// either run's prober send lag p99 in it is the machine's. The prober's
// thread runs at real-time priority and the kernel wakes it first; the
// server's threads are ordinary, so a machine busy enough to make the
// prober late makes them later. Two healthy runs whose gap-5min ping p99
// went 2.3 → 5.1 ms had send lag p99 0.17 and 1.85 ms.
const MachineNoiseFactor = 2

// noiseFloorMS is the latency change two runs' own lateness explains: the
// larger of the run-wide floor (--floor, and twice either run's calibrated
// prober lateness) and MachineNoiseFactor × either run's prober send lag
// p99 in this scenario (latencies are measured from the intended send
// time, so a late prober adds its lateness, and a busy machine more).
func noiseFloorMS(o, n *Scenario, floor float64) float64 {
	f := floor
	for _, sc := range []*Scenario{o, n} {
		if sc.Heartbeat != nil {
			f = math.Max(f, MachineNoiseFactor*sc.Heartbeat.SendLagP99MS)
		}
	}
	return f
}

// heartbeatCheckSupport finds the probe kind ("heartbeat.ping" or
// "heartbeat.noop"), statistic and sample count behind a heartbeat check
// ("heartbeat.ping.p99", "heartbeat.noop.max" … of a phase), the smaller
// count of the two runs.
func heartbeatCheckSupport(c Check, o, n *Scenario) (kind, stat string, count int64, ok bool) {
	parts := strings.Split(c.Name, ".")
	if len(parts) != 3 || parts[0] != "heartbeat" || c.Unit != "ms" {
		return "", "", 0, false
	}
	stat, _, _ = strings.Cut(parts[2], "_") // p99_vs_baseline judges the p99
	count = math.MaxInt64
	for _, sc := range []*Scenario{o, n} {
		var l *Latencies
		for _, p := range sc.Phases {
			if p.Name == c.Phase {
				l = map[string]*Latencies{"ping": p.Ping, "noop": p.NoopTool}[parts[1]]
			}
		}
		if l == nil {
			return "", "", 0, false
		}
		count = min(count, l.Count)
	}
	return parts[0] + "." + parts[1], stat, count, true
}

// A call's own share (call.server_ms, call.repeat_ms) is one sample: a
// worsening counts when it at least doubles AND grows by CallShareFloorMS.
// Two healthy runs differ by a third; a second of CPU put on the request
// path does not hide.
const (
	CallShareFactor  = 2.0
	CallShareFloorMS = 100.0
)

// judgeCallShare turns a regression of a call's own share within
// CallShareFactor or CallShareFloorMS into noise, saying why.
func judgeCallShare(row DiffRow) DiffRow {
	if row.Status != DiffRegression {
		return row
	}
	if row.NewValue < CallShareFactor*row.OldValue || row.NewValue-row.OldValue < CallShareFloorMS {
		row.Status = DiffNoise
		row.Note = fmt.Sprintf("not counted: one call's own share; it counts from %g× and +%g ms", CallShareFactor, CallShareFloorMS)
	}
	return row
}

// checkStat is the statistic a check's name ends with: "max" for
// "cancel.next_ok_max" or "heartbeat.ping.max", "p99" for "….p99".
func checkStat(name string) string {
	last := name[strings.LastIndexAny(name, "._")+1:]
	switch last {
	case "max", "p99", "p999":
		return last
	}
	return ""
}

// windowCounts are the series windows of two runs (in one phase, or the
// whole scenario) and how many of each reach a value.
type windowCounts struct {
	oldHit, oldAll, newHit, newAll int
}

func (w windowCounts) known() bool { return w.oldAll > 0 && w.newAll > 0 }

// p is the one-sided Fisher exact p-value of the new run reaching the
// value in at least newHit of its windows, were both runs' windows alike.
func (w windowCounts) p() float64 {
	return fisherGreater(w.newHit, w.newAll, w.oldHit+w.newHit, w.oldAll+w.newAll)
}

// fisherGreater is P(X >= k) for X hypergeometric: n draws from N items of
// which K are marked.
func fisherGreater(k, n, K, N int) float64 {
	lc := func(a, b int) float64 {
		x, _ := math.Lgamma(float64(a + 1))
		y, _ := math.Lgamma(float64(b + 1))
		z, _ := math.Lgamma(float64(a - b + 1))
		return x - y - z
	}
	total := lc(N, n)
	p := 0.0
	for x := k; x <= min(K, n); x++ {
		if n-x > N-K {
			continue
		}
		p += math.Exp(lc(K, x) + lc(N-K, n-x) - total)
	}
	return min(p, 1)
}

// tailWindows counts, in both runs, the series windows of the heartbeat
// kind ("heartbeat.ping" or "heartbeat.noop") within phase ("" = the whole
// scenario) and those of them whose worst latency reaches v ms. Counts are
// zero when a run kept no series.
func tailWindows(o, n *Scenario, kind, phase string, v float64) windowCounts {
	var w windowCounts
	w.oldHit, w.oldAll = windowsReaching(o, kind, phase, v)
	w.newHit, w.newAll = windowsReaching(n, kind, phase, v)
	return w
}

func windowsReaching(sc *Scenario, kind, phase string, v float64) (hit, all int) {
	if sc.Heartbeat == nil {
		return 0, 0
	}
	series := sc.Heartbeat.Series
	if kind == "heartbeat.noop" {
		series = sc.Heartbeat.NoopSeries
	}
	from, to := math.Inf(-1), math.Inf(1)
	if phase != "" {
		from = math.NaN()
		for _, p := range sc.Phases {
			if p.Name == phase {
				from, to = p.StartMS, p.EndMS
			}
		}
		if math.IsNaN(from) {
			return 0, 0
		}
	}
	width := sc.Heartbeat.SeriesBucketMS
	if width <= 0 {
		width = 250 // results written before the width was recorded
	}
	for _, s := range series {
		if s.TMS+width > from && s.TMS < to {
			all++
			if s.Value >= v {
				hit++
			}
		}
	}
	return hit, all
}

// direction is +1 when a larger value is worse, -1 when smaller is worse,
// 0 when only a pass/fail flip matters.
func direction(op string) int {
	switch op {
	case "<=", "<":
		return +1
	case ">=", ">":
		return -1
	}
	return 0
}

func compareValue(row DiffRow, old, cur float64, dir int, opts DiffOptions) DiffRow {
	row.OldValue, row.NewValue = old, cur
	row.Old, row.New = FormatValue(old, row.Unit), FormatValue(cur, row.Unit)
	if old != 0 {
		row.Change = (cur - old) / math.Abs(old)
	}
	row.Status = DiffOK
	if dir == 0 || row.Unit == "bool" {
		return row
	}
	worse := (cur - old) * float64(dir)
	allowed := math.Max(opts.tolerance()*math.Abs(old), opts.floor(row.Unit))
	switch {
	case worse > allowed:
		row.Status = DiffRegression
	case -worse > allowed:
		row.Status = DiffImproved
	}
	return row
}

// NewDiffReporter renders a Diff as an aligned text table followed by a
// one-line conclusion. With onlyChanged, rows whose status is ok are left out.
func NewDiffReporter(d *Diff, onlyChanged bool) Reporter {
	return func(w io.Writer) error {
		ew := newErrWriter(w)
		var table bytes.Buffer
		tw := tabwriter.NewWriter(&table, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SCENARIO\tMETRIC\tOLD\tNEW\tCHANGE\tSTATUS\tNOTE")
		hidden := 0
		for _, r := range d.Rows {
			if onlyChanged && r.Status == DiffOK {
				hidden++
				continue
			}
			change := ""
			if r.Old != "" && r.New != "" && r.OldValue != 0 && r.Unit != "bool" && r.Metric != "verdict" {
				change = strconv.FormatFloat(r.Change*100, 'f', 1, 64) + "%"
				if r.Change > 0 {
					change = "+" + change
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Metric, dash(r.Old), dash(r.New), change, r.Status, r.Note)
		}
		tw.Flush()
		// tabwriter pads the empty last column; CI logs need no trailing blanks.
		for _, line := range strings.SplitAfter(table.String(), "\n") {
			ew.print(strings.TrimRight(line, " \n"))
			if strings.HasSuffix(line, "\n") {
				ew.print("\n")
			}
		}
		if hidden > 0 {
			ew.printf("(%d unchanged row%s hidden)\n", hidden, plural(hidden))
		}
		if d.Noise > 0 {
			ew.printf("%d worsening%s not counted as noise (too few samples behind the statistic, or within the runs' prober lateness: see NOTE)\n", d.Noise, plural(d.Noise))
		}
		if d.Regressions == 0 {
			ew.printf("no regression beyond tolerance %s (noise floor %s)\n", pct(d.Tolerance), FormatMS(d.FloorMS))
		} else {
			ew.printf("%d regression%s beyond tolerance %s (noise floor %s)\n", d.Regressions, plural(d.Regressions), pct(d.Tolerance), FormatMS(d.FloorMS))
		}
		if err := ew.flush(); err != nil {
			return fmt.Errorf("cannot write diff: %w", err)
		}
		return nil
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" }
