package reports

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry used by [NewHistogram]. Values are nanoseconds, as the
// HdrHistogram .hlog format assumes.
const (
	// HistogramLowestNS is the smallest latency told apart: 1 µs.
	HistogramLowestNS = int64(time.Microsecond)
	// HistogramHighestNS is the largest latency recorded: 1 hour (long-poll
	// replays at --time-scale 1 take minutes). Larger values are clamped.
	HistogramHighestNS = int64(time.Hour)
	// HistogramSigFigs keeps three significant digits (0.1 % error).
	HistogramSigFigs = 3
)

// NewHistogram returns an empty latency histogram with the package's
// geometry. Like every hdrhistogram.Histogram it is not safe for concurrent
// use: keep one per goroutine and merge, as the prober does.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(HistogramLowestNS, HistogramHighestNS, HistogramSigFigs)
}

// Record adds one latency to h, clamping it into the histogram's range so a
// pathological stall is counted as the largest value rather than lost.
func Record(h *hdrhistogram.Histogram, d time.Duration) {
	v := int64(d)
	if v < h.LowestTrackableValue() {
		v = h.LowestTrackableValue()
	}
	if v > h.HighestTrackableValue() {
		v = h.HighestTrackableValue()
	}
	// The value is in range, so RecordValue cannot fail.
	_ = h.RecordValue(v)
}

// NewLatencies summarises h (nanoseconds) as millisecond percentiles and
// keeps the encoded histogram in Latencies.Hist so that it can be merged and
// diffed later. Errors and Cancelled are left zero for the caller to fill.
// A nil or empty h gives a zero Latencies with no Hist.
func NewLatencies(h *hdrhistogram.Histogram) (*Latencies, error) {
	if h == nil || h.TotalCount() == 0 {
		return &Latencies{}, nil
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("cannot encode histogram of %d values: %w", h.TotalCount(), err)
	}
	return &Latencies{
		Count: h.TotalCount(),
		P50:   nsToMS(h.ValueAtQuantile(50)),
		P90:   nsToMS(h.ValueAtQuantile(90)),
		P99:   nsToMS(h.ValueAtQuantile(99)),
		P999:  nsToMS(h.ValueAtQuantile(99.9)),
		Max:   nsToMS(h.Max()),
		Mean:  roundMS(h.Mean() / 1e6),
		Hist:  string(enc),
	}, nil
}

// ErrNoHistogram means a Latencies carries no encoded histogram, so it cannot
// be merged or plotted exactly.
var ErrNoHistogram = errors.New("reports: latencies carry no histogram")

// Histogram decodes l.Hist. It returns ErrNoHistogram when l has none
// (nil l, an empty histogram, or a producer that only filled percentiles).
func (l *Latencies) Histogram() (*hdrhistogram.Histogram, error) {
	if l == nil || l.Hist == "" {
		return nil, ErrNoHistogram
	}
	h, err := hdrhistogram.Decode([]byte(l.Hist))
	if err != nil {
		return nil, fmt.Errorf("cannot decode histogram of %d values: %w", l.Count, err)
	}
	return h, nil
}

// MergeLatencies merges several Latencies (repeats of a scenario, phases of
// a scenario, one tool across phases) into one: histograms are merged and the
// percentiles recomputed, error and cancel counts are summed. Nil and empty
// entries are skipped. Every non-empty entry must carry its histogram
// (ErrNoHistogram otherwise): percentiles cannot be merged without it.
func MergeLatencies(ls ...*Latencies) (*Latencies, error) {
	merged := NewHistogram()
	var errs, cancelled int64
	for _, l := range ls {
		if l == nil {
			continue
		}
		errs += l.Errors
		cancelled += l.Cancelled
		if l.Count == 0 {
			continue
		}
		h, err := l.Histogram()
		if err != nil {
			return nil, err
		}
		if dropped := merged.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("cannot merge histogram of %d values: %d fell outside 1µs–1h", h.TotalCount(), dropped)
		}
	}
	out, err := NewLatencies(merged)
	if err != nil {
		return nil, err
	}
	out.Errors, out.Cancelled = errs, cancelled
	return out, nil
}

// StepLatencies aggregates the call steps chosen by keep (all call steps when
// keep is nil): latencies of every call (ok, error, timeout, cancelled) into a
// histogram, plus error and cancel counts. It returns nil when no step matched.
func StepLatencies(steps []Step, keep func(Step) bool) (*Latencies, error) {
	h := NewHistogram()
	var errs, cancelled int64
	n := 0
	for _, s := range steps {
		if !isCall(s) || (keep != nil && !keep(s)) {
			continue
		}
		n++
		Record(h, FromMillis(s.LatencyMS))
		switch s.Outcome {
		case OutcomeError, OutcomeTimeout:
			errs++
		case OutcomeCancelled:
			cancelled++
		}
	}
	if n == 0 {
		return nil, nil
	}
	l, err := NewLatencies(h)
	if err != nil {
		return nil, err
	}
	l.Errors, l.Cancelled = errs, cancelled
	return l, nil
}

// Step outcomes as the runner writes them in Step.Outcome.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"
	OutcomeCancelled = "cancelled"
	OutcomeTimeout   = "timeout"
	OutcomeSkipped   = "skipped"
)

// Step kinds that are measured tool calls (the runner's scenarios.Kind*).
const (
	KindCall       = "call"
	KindConcurrent = "concurrent" // one call of a concurrent group
)

// isCall reports whether a step is a measured tool call (alone, one of a
// concurrent group, or one that was cancelled), as opposed to a gap, a wait,
// a fault switch or the cancel step itself.
func isCall(s Step) bool {
	if s.Outcome == OutcomeSkipped {
		return false
	}
	switch s.Kind {
	case KindCall, KindConcurrent:
		return true
	case "":
		return s.Tool != ""
	}
	return false
}

// ToolLatencies aggregates call steps per tool name.
func ToolLatencies(steps []Step) (map[string]*Latencies, error) {
	var names []string
	seen := map[string]bool{}
	for _, s := range steps {
		if isCall(s) && s.Tool != "" && !seen[s.Tool] {
			seen[s.Tool] = true
			names = append(names, s.Tool)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	sort.Strings(names)
	out := make(map[string]*Latencies, len(names))
	for _, name := range names {
		l, err := StepLatencies(steps, func(s Step) bool { return s.Tool == name })
		if err != nil {
			return nil, fmt.Errorf("cannot aggregate tool %q: %w", name, err)
		}
		out[name] = l
	}
	return out, nil
}

// Summarize fills the aggregates a producer left empty, so that a runner can
// write only raw data (steps, per-phase histograms) and every report still
// shows the derived numbers. It never overwrites what is set. Per scenario:
//   - Tools from the call steps;
//   - each Phase.ToolCalls from the call steps of that phase;
//   - Heartbeat.Ping and Heartbeat.NoopTool by merging the phases' ones;
//   - Heartbeat.HistFile and each Load.HistFile, the relative path
//     WriteAll writes the .hlog to;
//   - the scenario verdict (ScenarioVerdict) and the run verdict (Judge:
//     a failure always wins), when empty.
//
// Summarize is idempotent. It also sets SchemaVersion when zero.
func Summarize(r *Result) error {
	if r.SchemaVersion == 0 {
		r.SchemaVersion = SchemaVersion
	}
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		if sc.Tools == nil {
			t, err := ToolLatencies(sc.Steps)
			if err != nil {
				return fmt.Errorf("cannot summarise scenario %q: %w", sc.Name, err)
			}
			sc.Tools = t
		}
		for j := range sc.Phases {
			p := &sc.Phases[j]
			if p.ToolCalls != nil {
				continue
			}
			l, err := StepLatencies(sc.Steps, func(s Step) bool { return s.Phase == p.Name })
			if err != nil {
				return fmt.Errorf("cannot summarise phase %q of scenario %q: %w", p.Name, sc.Name, err)
			}
			p.ToolCalls = l
		}
		if err := summarizeHeartbeat(sc); err != nil {
			return fmt.Errorf("cannot summarise heartbeat of scenario %q: %w", sc.Name, err)
		}
		fillLoadHistFiles(sc)
		if sc.Verdict == "" {
			sc.Verdict = ScenarioVerdict(sc)
		}
	}
	if r.Run.Verdict == "" {
		r.Run.Verdict = Judge(r.Scenarios, 0).Verdict
	}
	return nil
}

func summarizeHeartbeat(sc *Scenario) error {
	var pings, noops []*Latencies
	for _, p := range sc.Phases {
		if p.Ping != nil && p.Ping.Count > 0 {
			pings = append(pings, p.Ping)
		}
		if p.NoopTool != nil && p.NoopTool.Count > 0 {
			noops = append(noops, p.NoopTool)
		}
	}
	if sc.Heartbeat == nil {
		if len(pings) == 0 && len(noops) == 0 {
			return nil
		}
		sc.Heartbeat = &Heartbeat{}
	}
	hb := sc.Heartbeat
	// A producer that sent percentiles without histograms cannot be merged;
	// its phases still render, the scenario line just stays empty.
	if hb.Ping == nil && len(pings) > 0 {
		l, err := MergeLatencies(pings...)
		if err != nil && !errors.Is(err, ErrNoHistogram) {
			return err
		}
		hb.Ping = l
	}
	if hb.NoopTool == nil && len(noops) > 0 {
		l, err := MergeLatencies(noops...)
		if err != nil && !errors.Is(err, ErrNoHistogram) {
			return err
		}
		hb.NoopTool = l
	}
	if hb.HistFile == "" && hasHistograms(sc) {
		hb.HistFile = HlogPath(sc.Name)
	}
	return nil
}

// Counts is how many scenarios ended in each verdict.
type Counts struct {
	Total, Pass, Fail, Invalid int
}

// CountVerdicts counts the scenarios of r by verdict.
func CountVerdicts(r *Result) Counts {
	c := Counts{Total: len(r.Scenarios)}
	for _, sc := range r.Scenarios {
		switch sc.Verdict {
		case VerdictPass:
			c.Pass++
		case VerdictInvalid:
			c.Invalid++
		default:
			c.Fail++
		}
	}
	return c
}

// FailingChecks returns the checks of sc that did not pass, in order.
func FailingChecks(sc *Scenario) []Check {
	var out []Check
	for _, c := range sc.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

func nsToMS(ns int64) float64 { return roundMS(float64(ns) / 1e6) }

// roundMS keeps microsecond resolution: finer digits are noise from the
// histogram's bucket edges and only make the JSON harder to read and diff.
func roundMS(ms float64) float64 { return math.Round(ms*1000) / 1000 }

// Millis is d in milliseconds, the unit of every figure in a result.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FromMillis is the duration of v milliseconds.
func FromMillis(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
