package reports

import (
	"fmt"
	"math"
	"sort"
)

// Plots of an open-model load, drawn like the scenario plots in svg.go:
// same boxes, axes, palette and class="plot", so the chromium test checks
// them too. Time runs from the load's start.

// loadBox is the geometry of every load plot: half the page's width.
var loadBox = plotBox{w: 630, h: 300, left: 64, right: 30, top: 40, bottom: 40}

// loadBucketMS is the width of a load's series windows. Older or partial
// producers may not record it; consecutive windows then tell it.
func loadBucketMS(l *Load) float64 {
	if l.SeriesBucketMS > 0 {
		return l.SeriesBucketMS
	}
	if len(l.Series) > 1 {
		return l.Series[1].TMS - l.Series[0].TMS
	}
	return 0
}

// loadTimeAxis is the x axis of a load's series, in seconds of load time.
func loadTimeAxis(l *Load, bucketMS float64) (axis, []tick) {
	span := l.DurationMS
	for _, s := range l.Series {
		span = math.Max(span, s.TMS+bucketMS)
	}
	xt := secondsTicks(math.Max(span, 1) / 1000)
	return axis{min: 0, max: math.Max(span/1000, xt[len(xt)-1].v), p0: loadBox.x0(), p1: loadBox.x1()}, xt
}

// loadLine is one series of a load plot; get returns false for a window
// with nothing to draw, which breaks the line.
type loadLine struct {
	name, colour string
	get          func(LoadSample) (float64, bool)
}

// drawLoadLines draws each line through the middle of its windows and
// returns the legend.
func (d *svgDoc) drawLoadLines(l *Load, bucketMS float64, xa, ya axis, lines []loadLine) (names, colours []string) {
	for _, ln := range lines {
		var pts [][2]float64
		for _, s := range l.Series {
			v, ok := ln.get(s)
			if !ok {
				d.polyline(pts, ln.colour, 1.5)
				pts = nil
				continue
			}
			pts = append(pts, [2]float64{xa.px((s.TMS + bucketMS/2) / 1000), ya.px(v)})
		}
		d.polyline(pts, ln.colour, 1.5)
		names, colours = append(names, ln.name), append(colours, ln.colour)
	}
	return names, colours
}

// LoadThroughputSVG plots a load's offered and completed calls per second,
// window by window, plus dropped and failed calls per second when there
// were any. It returns "" without a series.
func LoadThroughputSVG(sc *Scenario, l *Load) string {
	bucket := loadBucketMS(l)
	if len(l.Series) == 0 || bucket <= 0 {
		return ""
	}
	perS := 1000 / bucket
	count := func(f func(LoadSample) int64) func(LoadSample) (float64, bool) {
		return func(s LoadSample) (float64, bool) { return float64(f(s)) * perS, true }
	}
	lines := []loadLine{
		{"offered/s", palette[0], count(func(s LoadSample) int64 { return s.Offered })},
		{"completed/s", palette[2], count(func(s LoadSample) int64 { return s.Completed })},
	}
	var dropped, failed bool
	for _, s := range l.Series {
		dropped, failed = dropped || s.Dropped > 0, failed || s.Errors > 0
	}
	if dropped {
		lines = append(lines, loadLine{"dropped/s", palette[4], count(func(s LoadSample) int64 { return s.Dropped })})
	}
	if failed {
		lines = append(lines, loadLine{"errors/s", palette[1], count(func(s LoadSample) int64 { return s.Errors })})
	}
	hi := 0.0
	for _, ln := range lines {
		for _, s := range l.Series {
			v, _ := ln.get(s)
			hi = math.Max(hi, v)
		}
	}
	ymax := niceMax(hi*1.1, 5)
	ya := axis{min: 0, max: ymax, p0: loadBox.y0(), p1: loadBox.y1()}
	var yt []tick
	for _, v := range niceTicks(0, ymax, 5) {
		yt = append(yt, tick{v, formatNumber(v)})
	}
	xa, xt := loadTimeAxis(l, bucket)
	d := newSVG(loadBox, fmt.Sprintf("throughput over time, load %s, scenario %s", loadName(l), sc.Name))
	d.title("Load " + loadName(l) + ": throughput over time")
	d.frame(xa, ya, xt, yt, "load time", UnitRate)
	d.legend(d.drawLoadLines(l, bucket, xa, ya, lines))
	return d.done()
}

// LoadLatencySVG plots the p50, p99 and max latency (corrected) of the
// calls answered in each window of a load. Windows that answered nothing
// break the lines. It returns "" when no window answered a call.
func LoadLatencySVG(sc *Scenario, l *Load) string {
	bucket := loadBucketMS(l)
	lo, hi := math.Inf(1), 0.0
	for _, s := range l.Series {
		if s.Completed == 0 {
			continue
		}
		for _, v := range []float64{s.P50MS, s.P99MS, s.MaxMS} {
			if v > 0 {
				lo = math.Min(lo, v)
			}
			hi = math.Max(hi, v)
		}
	}
	if bucket <= 0 || hi == 0 {
		return ""
	}
	stat := func(f func(LoadSample) float64) func(LoadSample) (float64, bool) {
		return func(s LoadSample) (float64, bool) { return f(s), s.Completed > 0 }
	}
	lines := []loadLine{
		{"p50", palette[0], stat(func(s LoadSample) float64 { return s.P50MS })},
		{"p99", palette[1], stat(func(s LoadSample) float64 { return s.P99MS })},
		{"max", palette[3], stat(func(s LoadSample) float64 { return s.MaxMS })},
	}
	ya, yt, ylabel := latencyAxis(lo, hi, loadBox)
	xa, xt := loadTimeAxis(l, bucket)
	d := newSVG(loadBox, fmt.Sprintf("latency over time, load %s, scenario %s", loadName(l), sc.Name))
	d.title("Load " + loadName(l) + ": latency over time")
	d.frame(xa, ya, xt, yt, "load time", ylabel)
	d.legend(d.drawLoadLines(l, bucket, xa, ya, lines))
	return d.done()
}

// LoadCapacitySVG plots a capacity search: each trial's p99 and p50
// against its offered rate, passing trials as filled dots, failing ones as
// crosses, trials that could not be judged as hollow dots; the p99 limit
// and the capacity found are dashed lines. It returns "" without trials.
func LoadCapacitySVG(sc *Scenario, l *Load) string {
	c := l.Capacity
	if c == nil || len(c.Trials) == 0 {
		return ""
	}
	trials := append([]Trial(nil), c.Trials...)
	sort.SliceStable(trials, func(i, j int) bool { return trials[i].Rate < trials[j].Rate })
	xa, xt := capacityRateAxis(c, trials)
	ya, yt, ylabel := capacityLatencyAxis(c, trials)
	d := newSVG(loadBox, fmt.Sprintf("latency vs offered load, load %s, scenario %s", loadName(l), sc.Name))
	d.title("Load " + loadName(l) + ": latency vs offered load")
	d.frame(xa, ya, xt, yt, "offered rate ("+UnitRate+")", ylabel)
	d.capacityGuides(c, xa, ya)
	stats := []struct {
		name, colour string
		get          func(Trial) float64
	}{
		{"p99", palette[1], func(t Trial) float64 { return t.P99MS }},
		{"p50", palette[0], func(t Trial) float64 { return t.P50MS }},
	}
	for _, st := range stats {
		var pts [][2]float64
		for _, t := range trials {
			pts = append(pts, [2]float64{xa.px(t.Rate), ya.px(st.get(t))})
		}
		d.polyline(pts, st.colour, 1.5)
		for _, t := range trials {
			d.trialMarker(t, st.name, xa.px(t.Rate), ya.px(st.get(t)), st.colour)
		}
	}
	d.legend([]string{"p99", "p50", "● pass", "× fail", "capacity"}, []string{palette[1], palette[0], axisColour, axisColour, palette[2]})
	return d.done()
}

// capacityRateAxis spans every trial's rate and the capacity, from zero.
func capacityRateAxis(c *Capacity, trials []Trial) (axis, []tick) {
	hi := c.Rate
	for _, t := range trials {
		hi = math.Max(hi, t.Rate)
	}
	xmax := niceMax(hi*1.05, 6)
	var xt []tick
	for _, v := range niceTicks(0, xmax, 6) {
		xt = append(xt, tick{v, formatNumber(v)})
	}
	return axis{min: 0, max: xmax, p0: loadBox.x0(), p1: loadBox.x1()}, xt
}

// capacityLatencyAxis spans the trials' p50 and p99 and the p99 limit.
func capacityLatencyAxis(c *Capacity, trials []Trial) (axis, []tick, string) {
	lo, hi := math.Inf(1), c.Limits.P99MS
	if c.Limits.P99MS > 0 {
		lo = c.Limits.P99MS
	}
	for _, t := range trials {
		for _, v := range []float64{t.P50MS, t.P99MS} {
			if v > 0 {
				lo = math.Min(lo, v)
			}
			hi = math.Max(hi, v)
		}
	}
	return latencyAxis(lo, hi, loadBox)
}

// capacityGuides draws the p99 limit (horizontal) and the capacity found
// (vertical), each labelled, as dashed lines under the data.
func (d *svgDoc) capacityGuides(c *Capacity, xa, ya axis) {
	b := d.box
	if lim := c.Limits.P99MS; lim > 0 {
		y := ya.px(lim)
		d.printf(`<line class="limit" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="5 4"/>`, f1(b.x0()), f1(y), f1(b.x1()), f1(y), palette[1])
		d.printf(`<text x="%s" y="%s" font-size="10" text-anchor="end" fill="%s">%s</text>`, f1(b.x1()-4), f1(y-4), palette[1], esc("p99 limit "+FormatMS(lim)))
	}
	if c.Rate > 0 {
		x := xa.px(c.Rate)
		d.printf(`<line class="capacity" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="5 4"/>`, f1(x), f1(b.y1()), f1(x), f1(b.y0()), palette[2])
		d.printf(`<text x="%s" y="%s" font-size="10" text-anchor="end" fill="%s">%s</text>`, f1(x-4), f1(b.y1()+12), palette[2], esc("capacity "+rateText(c.Rate)))
	}
}

// trialMarker draws one trial's statistic: a filled dot when it passed, a
// cross when it failed, a hollow dot when it could not be judged. Its
// tooltip tells the whole trial.
func (d *svgDoc) trialMarker(t Trial, stat string, x, y float64, colour string) {
	title := esc(stat + " at " + trialText(t))
	switch {
	case t.Invalid != "":
		d.printf(`<circle class="trial invalid" cx="%s" cy="%s" r="4" fill="#fff" stroke="%s" stroke-width="1.5"><title>%s</title></circle>`, f1(x), f1(y), colour, title)
	case t.Pass:
		d.printf(`<circle class="trial pass" cx="%s" cy="%s" r="4" fill="%s" stroke="#fff"><title>%s</title></circle>`, f1(x), f1(y), colour, title)
	default:
		d.printf(`<path class="trial fail" d="M%s %sL%s %sM%s %sL%s %s" stroke="%s" stroke-width="2"><title>%s</title></path>`,
			f1(x-4), f1(y-4), f1(x+4), f1(y+4), f1(x-4), f1(y+4), f1(x+4), f1(y-4), colour, title)
	}
}

// trialText is a trial in one line, for tooltips: "950/s: achieved 948/s,
// p50 70.1 ms, p99 268.0 ms, errors 0 %, dropped 0 %: FAIL (p99 …)".
func trialText(t Trial) string {
	s := fmt.Sprintf("%s: achieved %s, p50 %s, p99 %s, errors %s, dropped %s: ",
		rateText(t.Rate), rateText(t.Achieved), FormatMS(t.P50MS), FormatMS(t.P99MS), ratioText(t.ErrorRatio), ratioText(t.DroppedRatio))
	switch {
	case t.Invalid != "":
		return s + "not judged (" + t.Invalid + ")"
	case t.Pass:
		return s + "pass"
	case t.Broke != "":
		return s + "FAIL (" + t.Broke + ")"
	}
	return s + "FAIL"
}
