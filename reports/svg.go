package reports

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
)

// SVG plots for report.html, drawn by hand: no charting library, no script,
// nothing fetched. Every coordinate is printed with one decimal so the same
// Result always renders the same bytes.

// palette colours series in order; chosen to stay apart for colour-blind readers.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"}

const (
	faultFill  = "#f59e0b"
	axisColour = "#555"
	gridColour = "#e5e7eb"
)

// plotBox is the geometry of one plot: the whole SVG and the inner data area.
type plotBox struct {
	w, h                     float64
	left, right, top, bottom float64
}

func (b plotBox) x0() float64 { return b.left }
func (b plotBox) x1() float64 { return b.w - b.right }
func (b plotBox) y0() float64 { return b.h - b.bottom } // data area bottom (y grows down)
func (b plotBox) y1() float64 { return b.top }

// axis maps data values to pixels, linearly or on a log10 scale.
type axis struct {
	min, max float64
	log      bool
	p0, p1   float64 // pixel positions of min and max
}

func (a axis) px(v float64) float64 {
	lo, hi, x := a.min, a.max, v
	if a.log {
		if x <= 0 {
			x = lo
		}
		lo, hi, x = math.Log10(lo), math.Log10(hi), math.Log10(x)
	}
	if hi == lo {
		return a.p0
	}
	f := (x - lo) / (hi - lo)
	f = math.Max(-0.02, math.Min(1.02, f)) // keep stray points just inside the frame
	return a.p0 + f*(a.p1-a.p0)
}

type tick struct {
	v     float64
	label string
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// niceMax rounds a positive maximum up to the next tick of niceTicks.
func niceMax(v float64, n int) float64 {
	if v <= 0 {
		return 1
	}
	t := niceTicks(0, v, n)
	last := t[len(t)-1]
	if last < v {
		last += t[1] - t[0]
	}
	return last
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// shortMS is a compact axis label for a latency: "0.5ms", "20ms", "1.5s".
func shortMS(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms >= 1000:
		return trimFloat(ms/1000) + "s"
	case ms < 1:
		return trimFloat(ms*1000) + "µs"
	}
	return trimFloat(ms) + "ms"
}

func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// svgDoc accumulates one SVG element.
type svgDoc struct {
	b   strings.Builder
	box plotBox
}

func newSVG(box plotBox, label string) *svgDoc {
	d := &svgDoc{box: box}
	d.printf(`<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		f1(box.w), f1(box.h), f1(box.w), f1(box.h), esc(label))
	d.printf(`<rect x="0" y="0" width="%s" height="%s" fill="#fff"/>`, f1(box.w), f1(box.h))
	return d
}

func (d *svgDoc) printf(format string, args ...any) { fmt.Fprintf(&d.b, format, args...) }

func (d *svgDoc) done() string {
	d.printf(`</svg>`)
	return d.b.String()
}

func esc(s string) string { return html.EscapeString(s) }

func (d *svgDoc) title(s string) {
	d.printf(`<text x="%s" y="16" font-size="13" font-weight="600" fill="#111">%s</text>`, f1(d.box.left), esc(s))
}

// frame draws the grid, the axes with ticks and their labels.
func (d *svgDoc) frame(xa, ya axis, xt, yt []tick, xlabel, ylabel string) {
	b := d.box
	for _, t := range yt {
		y := ya.px(t.v)
		d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, f1(b.x0()), f1(y), f1(b.x1()), f1(y), gridColour)
		d.printf(`<text x="%s" y="%s" font-size="11" text-anchor="end" fill="%s">%s</text>`, f1(b.x0()-5), f1(y+4), axisColour, esc(t.label))
	}
	for _, t := range xt {
		x := xa.px(t.v)
		d.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, f1(x), f1(b.y1()), f1(x), f1(b.y0()), gridColour)
		d.printf(`<text x="%s" y="%s" font-size="11" text-anchor="middle" fill="%s">%s</text>`, f1(x), f1(b.y0()+15), axisColour, esc(t.label))
	}
	d.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="%s"/>`, f1(b.x0()), f1(b.y1()), f1(b.x1()-b.x0()), f1(b.y0()-b.y1()), axisColour)
	d.printf(`<text x="%s" y="%s" font-size="11" text-anchor="middle" fill="%s">%s</text>`, f1((b.x0()+b.x1())/2), f1(b.h-6), axisColour, esc(xlabel))
	d.printf(`<text transform="translate(12 %s) rotate(-90)" font-size="11" text-anchor="middle" fill="%s">%s</text>`, f1((b.y0()+b.y1())/2), axisColour, esc(ylabel))
}

// legend draws coloured swatches with names, right-aligned above the plot.
// The legend sits on its own row under the title, so a long title and many
// series never overlap.
func (d *svgDoc) legend(names, colours []string) {
	x := d.box.x1()
	for i := len(names) - 1; i >= 0; i-- {
		w := 6.5*float64(len([]rune(names[i]))) + 24
		x -= w
		d.printf(`<rect x="%s" y="25" width="12" height="4" fill="%s"/>`, f1(x), colours[i])
		d.printf(`<text x="%s" y="31" font-size="11" fill="#333">%s</text>`, f1(x+16), esc(names[i]))
	}
}

// faults shades the fault windows over the data area, with their names.
func (d *svgDoc) faults(xa axis, faults []FaultWindow) {
	b := d.box
	for _, f := range faults {
		end := f.EndMS
		if end < f.StartMS {
			// Still open when the scenario ended (the runner marks it -1).
			end = xa.max * 1000
		}
		x0, x1 := xa.px(f.StartMS/1000), xa.px(end/1000)
		if x1 < x0+1 {
			x1 = x0 + 1
		}
		d.printf(`<rect class="fault" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.18"><title>%s</title></rect>`,
			f1(x0), f1(b.y1()), f1(x1-x0), f1(b.y0()-b.y1()), faultFill, esc(fmt.Sprintf("fault %s: %.1fs–%.1fs", f.Name, f.StartMS/1000, end/1000)))
		d.printf(`<text x="%s" y="%s" font-size="10" fill="#92400e">%s</text>`, f1(x0+3), f1(b.y1()+12), esc(f.Name))
	}
}

func (d *svgDoc) polyline(pts [][2]float64, colour string, width float64) {
	if len(pts) == 0 {
		return
	}
	var sb strings.Builder
	for i, p := range pts {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(f1(p[0]))
		sb.WriteByte(',')
		sb.WriteString(f1(p[1]))
	}
	d.printf(`<polyline fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round" points="%s"/>`, colour, f1(width), sb.String())
}

// downsample keeps, per pixel column, the first point and the column's
// extremes, so a stall of one sample stays visible however long the run.
func downsample(samples []Sample, xa axis, maxPoints int) []Sample {
	if len(samples) <= maxPoints {
		return samples
	}
	var out []Sample
	col := math.Inf(-1)
	var lo, hi Sample
	flush := func() {
		if math.IsInf(col, -1) {
			return
		}
		if lo.TMS <= hi.TMS {
			out = append(out, lo, hi)
		} else {
			out = append(out, hi, lo)
		}
	}
	for _, s := range samples {
		c := math.Floor(xa.px(s.TMS / 1000))
		if c != col {
			flush()
			col, lo, hi = c, s, s
			continue
		}
		if s.Value < lo.Value {
			lo = s
		}
		if s.Value > hi.Value {
			hi = s
		}
	}
	flush()
	return out
}

// latencyAxis picks the y axis for latencies spanning [lo, hi] ms: log10 when
// they span more than ~two decades (a stall next to sub-millisecond pings),
// linear otherwise.
func latencyAxis(lo, hi float64, box plotBox) (axis, []tick, string) {
	if hi <= 0 {
		hi = 1
	}
	if lo > 0 && hi/lo > 100 {
		lo10 := math.Pow(10, math.Floor(math.Log10(lo)))
		hi10 := math.Pow(10, math.Ceil(math.Log10(hi)))
		a := axis{min: lo10, max: hi10, log: true, p0: box.y0(), p1: box.y1()}
		var ts []tick
		for v := lo10; v <= hi10*1.0001; v *= 10 {
			ts = append(ts, tick{v, shortMS(v)})
		}
		return a, ts, "latency (log scale)"
	}
	max := niceMax(hi*1.05, 5)
	a := axis{min: 0, max: max, p0: box.y0(), p1: box.y1()}
	var ts []tick
	for _, v := range niceTicks(0, max, 5) {
		ts = append(ts, tick{v, shortMS(v)})
	}
	return a, ts, "latency"
}

func secondsTicks(maxS float64) []tick {
	var ts []tick
	for _, v := range niceTicks(0, maxS, 8) {
		ts = append(ts, tick{v, trimFloat(v) + "s"})
	}
	return ts
}

func scenarioSpanS(sc *Scenario) float64 {
	end := sc.DurationMS
	for _, s := range sc.Steps {
		end = math.Max(end, s.StartMS+s.LatencyMS)
	}
	for _, f := range sc.Faults {
		end = math.Max(end, f.EndMS)
	}
	if sc.Heartbeat != nil {
		for _, s := range sc.Heartbeat.Series {
			end = math.Max(end, s.TMS)
		}
	}
	for _, s := range sc.Goroutines {
		end = math.Max(end, s.TMS)
	}
	if end <= 0 {
		end = 1000
	}
	return end / 1000
}

// LatencyOverTimeSVG plots the heartbeat ping series and the scenario's own
// calls (one dot each, at their start) against scenario time, with the fault
// windows shaded. It returns "" when there is nothing to plot.
func LatencyOverTimeSVG(sc *Scenario) string {
	var series []Sample
	if sc.Heartbeat != nil {
		series = sc.Heartbeat.Series
	}
	var calls []Step
	for _, s := range sc.Steps {
		if isCall(s) {
			calls = append(calls, s)
		}
	}
	if len(series) == 0 && len(calls) == 0 {
		return ""
	}
	box := plotBox{w: 1280, h: 300, left: 64, right: 30, top: 40, bottom: 40}
	lo, hi := math.Inf(1), 0.0
	for _, s := range series {
		if s.Value > 0 {
			lo = math.Min(lo, s.Value)
		}
		hi = math.Max(hi, s.Value)
	}
	for _, c := range calls {
		if c.LatencyMS > 0 {
			lo = math.Min(lo, c.LatencyMS)
		}
		hi = math.Max(hi, c.LatencyMS)
	}
	ya, yt, ylabel := latencyAxis(lo, hi, box)
	span := scenarioSpanS(sc)
	xt := secondsTicks(span)
	xa := axis{min: 0, max: math.Max(span, xt[len(xt)-1].v), p0: box.x0(), p1: box.x1()}
	d := newSVG(box, "latency over time, scenario "+sc.Name)
	d.title("Latency over time")
	d.faults(xa, sc.Faults)
	d.frame(xa, ya, xt, yt, "scenario time", ylabel)
	var names, colours []string
	if len(series) > 0 {
		pts := make([][2]float64, 0, len(series))
		for _, s := range downsample(series, xa, 4*int(box.w)) {
			pts = append(pts, [2]float64{xa.px(s.TMS / 1000), ya.px(s.Value)})
		}
		d.polyline(pts, palette[0], 1.2)
		names, colours = append(names, "heartbeat ping"), append(colours, palette[0])
	}
	if len(calls) > 0 {
		for _, c := range calls {
			colour := palette[2]
			if c.Outcome != OutcomeOK {
				colour = palette[1]
			}
			d.printf(`<circle class="call" cx="%s" cy="%s" r="4" fill="%s" stroke="#fff"><title>%s</title></circle>`,
				f1(xa.px(c.StartMS/1000)), f1(ya.px(c.LatencyMS)), colour,
				esc(fmt.Sprintf("step %d %s: %s, %s", c.Index, stepName(c), c.Outcome, FormatMS(c.LatencyMS))))
		}
		names, colours = append(names, "tool call (ok)", "tool call (not ok)"), append(colours, palette[2], palette[1])
	}
	if len(sc.Faults) > 0 {
		names, colours = append(names, "fault window"), append(colours, faultFill)
	}
	d.legend(names, colours)
	return d.done()
}

// percentileXMax is the largest 1/(1-p) drawn: 99.999 %.
const percentileXMax = 1e5

// PercentileSVG draws the HdrHistogram percentile distribution of the
// heartbeat ping: x is the percentile on a log scale of 1/(1-p) (so 90 %,
// 99 %, 99.9 % are evenly spaced), y the latency. One line per phase plus the
// whole scenario. It returns "" when no histogram is available.
func PercentileSVG(sc *Scenario) string {
	type line struct {
		name string
		pts  [][2]float64 // (1/(1-p), ms)
	}
	var lines []line
	add := func(name string, l *Latencies) {
		h, err := l.Histogram()
		if err != nil || h.TotalCount() == 0 {
			return
		}
		// The last finite point sits at 1/(1-p) = count: no percentile
		// beyond one in count samples is measured.
		xEnd := math.Min(float64(h.TotalCount()), percentileXMax)
		var pts [][2]float64
		for _, br := range h.CumulativeDistributionWithTicks(5) {
			q := br.Quantile / 100
			x := xEnd
			if q < 1 {
				x = math.Min(1/(1-q), xEnd)
			}
			pts = append(pts, [2]float64{x, float64(br.ValueAt) / 1e6})
		}
		lines = append(lines, line{name, pts})
	}
	if sc.Heartbeat != nil && sc.Heartbeat.Ping != nil {
		add("all phases", sc.Heartbeat.Ping)
	}
	if len(sc.Phases) > 1 {
		for _, p := range sc.Phases {
			add(p.Name, p.Ping)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	box := plotBox{w: 630, h: 300, left: 64, right: 30, top: 40, bottom: 40}
	xMax, yMax := 10.0, 0.0
	for _, l := range lines {
		for _, p := range l.pts {
			xMax = math.Max(xMax, p[0])
			yMax = math.Max(yMax, p[1])
		}
	}
	xMax = math.Min(math.Pow(10, math.Ceil(math.Log10(xMax))), percentileXMax)
	xa := axis{min: 1, max: xMax, log: true, p0: box.x0(), p1: box.x1()}
	labels := map[float64]string{1: "0%", 10: "90%", 100: "99%", 1e3: "99.9%", 1e4: "99.99%", 1e5: "99.999%"}
	var xt []tick
	for v := 1.0; v <= xMax*1.0001; v *= 10 {
		xt = append(xt, tick{v, labels[math.Round(v)]})
	}
	ymax := niceMax(yMax*1.05, 5)
	ya := axis{min: 0, max: ymax, p0: box.y0(), p1: box.y1()}
	var yt []tick
	for _, v := range niceTicks(0, ymax, 5) {
		yt = append(yt, tick{v, shortMS(v)})
	}
	d := newSVG(box, "heartbeat ping percentile distribution, scenario "+sc.Name)
	d.title("Heartbeat ping: percentile distribution")
	d.frame(xa, ya, xt, yt, "percentile", "latency")
	var names, colours []string
	for i, l := range lines {
		colour := palette[i%len(palette)]
		width := 1.5
		if i == 0 {
			width = 2.5
		}
		pts := make([][2]float64, 0, len(l.pts))
		for _, p := range l.pts {
			pts = append(pts, [2]float64{xa.px(p[0]), ya.px(p[1])})
		}
		d.polyline(pts, colour, width)
		names, colours = append(names, l.name), append(colours, colour)
	}
	d.legend(names, colours)
	return d.done()
}

// GoroutinesSVG plots the server's goroutine count over scenario time, as
// steps, with the fault windows shaded. It returns "" without samples.
func GoroutinesSVG(sc *Scenario) string {
	if len(sc.Goroutines) == 0 {
		return ""
	}
	samples := append([]Sample(nil), sc.Goroutines...)
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].TMS < samples[j].TMS })
	box := plotBox{w: 630, h: 300, left: 64, right: 30, top: 40, bottom: 40}
	hi := 0.0
	for _, s := range samples {
		hi = math.Max(hi, s.Value)
	}
	ymax := niceMax(hi*1.1, 5)
	ya := axis{min: 0, max: ymax, p0: box.y0(), p1: box.y1()}
	var yt []tick
	for _, v := range niceTicks(0, ymax, 5) {
		yt = append(yt, tick{v, formatNumber(v)})
	}
	span := scenarioSpanS(sc)
	xt := secondsTicks(span)
	xa := axis{min: 0, max: math.Max(span, xt[len(xt)-1].v), p0: box.x0(), p1: box.x1()}
	d := newSVG(box, "server goroutines over time, scenario "+sc.Name)
	d.title("Server goroutines")
	d.faults(xa, sc.Faults)
	d.frame(xa, ya, xt, yt, "scenario time", "goroutines")
	var pts [][2]float64
	for i, s := range samples {
		x, y := xa.px(s.TMS/1000), ya.px(s.Value)
		if i > 0 {
			pts = append(pts, [2]float64{x, pts[len(pts)-1][1]})
		}
		pts = append(pts, [2]float64{x, y})
	}
	d.polyline(pts, palette[3], 1.5)
	d.legend([]string{"goroutines"}, []string{palette[3]})
	return d.done()
}
