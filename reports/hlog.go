package reports

import (
	"fmt"
	"io"
	"path"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Tags of the interval histograms in a scenario's .hlog. The heartbeat ping,
// the number people look at first, is untagged so tools that ignore tags
// (HdrHistogram's HistogramLogProcessor without -tag) show it.
const (
	HlogTagNoop  = "noop"  // heartbeat no-op tool call
	HlogTagTools = "tools" // the scenario's own tool calls
)

// HlogDir is the sub-directory of --out DIR that holds the .hlog and .hgrm files.
const HlogDir = "hlog"

// HlogPath is the path, relative to the output directory, of a scenario's
// .hlog file.
func HlogPath(scenario string) string {
	return path.Join(HlogDir, FileName(scenario)+".hlog")
}

// HgrmPath is the path, relative to the output directory, of a scenario's
// .hgrm file (the heartbeat ping percentile distribution, as
// HdrHistogram's online plotter reads it).
func HgrmPath(scenario string) string {
	return path.Join(HlogDir, FileName(scenario)+".hgrm")
}

// FileName maps a scenario name to a safe file name: anything but letters,
// digits, '.', '-' and '_' becomes '_'.
func FileName(name string) string {
	if name == "" {
		return "unnamed"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
}

// hlogTag maps a phase or tag name to what the .hlog format accepts: no
// commas, spaces or line breaks.
func hlogTag(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ',', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// hlogInterval is one interval histogram of a scenario's log.
type hlogInterval struct {
	tag              string
	startMS, endMS   float64 // since scenario start
	lat              *Latencies
	phase, component string
	desc             string // replaces "phase … component" in the header when set
}

// hlogIntervals lists what a scenario's .hlog holds: per phase, the ping
// histogram (untagged), the no-op tool (tag noop) and the scenario's calls
// (tag tools). A scenario without phase histograms logs its whole-run
// heartbeat as one interval. Each load adds its tools' histograms after
// them (see loadIntervals).
func hlogIntervals(sc *Scenario) []hlogInterval {
	var out []hlogInterval
	add := func(tag, phase, comp string, start, end float64, l *Latencies) {
		if l != nil && l.Count > 0 && l.Hist != "" {
			out = append(out, hlogInterval{tag: tag, startMS: start, endMS: end, lat: l, phase: phase, component: comp})
		}
	}
	for _, p := range sc.Phases {
		add("", p.Name, "ping", p.StartMS, p.EndMS, p.Ping)
		add(HlogTagNoop, p.Name, "noop_tool", p.StartMS, p.EndMS, p.NoopTool)
		add(HlogTagTools, p.Name, "tool_calls", p.StartMS, p.EndMS, p.ToolCalls)
	}
	if len(out) == 0 && sc.Heartbeat != nil {
		add("", "", "ping", 0, sc.DurationMS, sc.Heartbeat.Ping)
		add(HlogTagNoop, "", "noop_tool", 0, sc.DurationMS, sc.Heartbeat.NoopTool)
	}
	return append(out, loadIntervals(sc)...)
}

// what names the interval in the log's header and in errors.
func (iv hlogInterval) what() string {
	if iv.desc != "" {
		return iv.desc
	}
	phase := iv.phase
	if phase == "" {
		phase = "(whole scenario)"
	}
	return "phase " + phase + " " + iv.component
}

func hasHistograms(sc *Scenario) bool { return len(hlogIntervals(sc)) > 0 }

// WriteHlog writes the scenario's histograms to w in the HdrHistogram
// interval log format (version 1.3, values in nanoseconds, timestamps in
// seconds relative to the scenario start, which is recorded as StartTime and
// BaseTime). Each phase is one interval: untagged for the heartbeat ping,
// Tag=noop for the heartbeat no-op tool call, Tag=tools for the scenario's own
// calls; each load adds one interval per mix entry spanning the load,
// Tag=load.<load>.<name> corrected and Tag=load.<load>.<name>.raw service
// time. HistogramLogProcessor, HdrHistogramVisualizer and
// hdrhistogram.NewHistogramLogReader read it.
func WriteHlog(w io.Writer, sc *Scenario) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	baseMS := int64(0)
	if !sc.StartedAt.IsZero() {
		baseMS = sc.StartedAt.UnixMilli()
	}
	lw.SetBaseTime(baseMS)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return fmt.Errorf("cannot write hlog header: %w", err)
	}
	comment := fmt.Sprintf("secondbrain scenario %s: untagged = heartbeat ping per phase, Tag=%s = heartbeat no-op tool, Tag=%s = scenario tool calls; values in ns",
		sc.Name, HlogTagNoop, HlogTagTools)
	if len(sc.Loads) > 0 {
		comment += "; " + hlogLoadLegend
	}
	if err := lw.OutputComment(strings.ReplaceAll(comment, "\n", " ")); err != nil {
		return fmt.Errorf("cannot write hlog header: %w", err)
	}
	intervals := hlogIntervals(sc)
	for _, iv := range intervals {
		if err := lw.OutputComment(fmt.Sprintf("interval %.3fs-%.3fs %s", iv.startMS/1000, iv.endMS/1000, iv.what())); err != nil {
			return fmt.Errorf("cannot write hlog header: %w", err)
		}
	}
	if err := lw.OutputStartTime(baseMS); err != nil {
		return fmt.Errorf("cannot write hlog start time: %w", err)
	}
	if err := lw.OutputBaseTime(baseMS); err != nil {
		return fmt.Errorf("cannot write hlog base time: %w", err)
	}
	if err := lw.OutputLegend(); err != nil {
		return fmt.Errorf("cannot write hlog legend: %w", err)
	}
	for _, iv := range intervals {
		h, err := iv.lat.Histogram()
		if err != nil {
			return fmt.Errorf("cannot log %s: %w", iv.what(), err)
		}
		h.SetTag(hlogTag(iv.tag))
		h.SetStartTimeMs(baseMS + int64(iv.startMS))
		end := baseMS + int64(iv.endMS)
		if end < h.StartTimeMs() {
			end = h.StartTimeMs()
		}
		h.SetEndTimeMs(end)
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return fmt.Errorf("cannot log %s: %w", iv.what(), err)
		}
	}
	return nil
}

// WriteHgrm writes the percentile distribution of the scenario's heartbeat
// ping (all phases merged) in the .hgrm text format, values in ms. It writes
// nothing when the scenario has no ping histogram.
func WriteHgrm(w io.Writer, sc *Scenario) error {
	if sc.Heartbeat == nil || sc.Heartbeat.Ping == nil || sc.Heartbeat.Ping.Count == 0 {
		return nil
	}
	h, err := sc.Heartbeat.Ping.Histogram()
	if err != nil {
		return fmt.Errorf("cannot write hgrm of scenario %q: %w", sc.Name, err)
	}
	if _, err := h.PercentilesPrint(w, 5, 1e6); err != nil {
		return fmt.Errorf("cannot write hgrm of scenario %q: %w", sc.Name, err)
	}
	return nil
}
