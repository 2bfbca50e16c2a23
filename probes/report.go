package probes

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
	"github.com/secondbrain-dev/secondbrain/reports"
)

// Latencies converts one kind's numbers to the result schema. A histogram
// that cannot be encoded is reported without its Hist field.
func Latencies(k KindStats) *reports.Latencies {
	if k.Hist == nil {
		return nil
	}
	h := k.Hist
	l := &reports.Latencies{
		Count:  h.TotalCount(),
		Errors: k.Errors,
		P50:    nsToMS(h.ValueAtQuantile(50)),
		P90:    nsToMS(h.ValueAtQuantile(90)),
		P99:    nsToMS(h.ValueAtQuantile(99)),
		P999:   nsToMS(h.ValueAtQuantile(99.9)),
		Max:    nsToMS(h.Max()),
		Mean:   h.Mean() / 1e6,
	}
	if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		l.Hist = string(enc)
	}
	return l
}

func nsToMS(v int64) float64 { return float64(v) / 1e6 }

// Series converts samples to the result schema.
func Series(pts []Sample) []reports.Sample {
	out := make([]reports.Sample, len(pts))
	for i, p := range pts {
		out[i] = reports.Sample{TMS: reports.Millis(p.T), Value: p.Value}
	}
	return out
}

// Report summarises the whole heartbeat (all phases merged) for result.json.
func (s *HeartbeatSnapshot) Report() *reports.Heartbeat {
	hb := &reports.Heartbeat{
		IntervalMS:     reports.Millis(s.Interval),
		SendLagP99MS:   nsToMS(s.SendLag.ValueAtQuantile(99)),
		SendLagP50MS:   nsToMS(s.SendLag.ValueAtQuantile(50)),
		Clock:          s.Clock,
		DroppedTicks:   s.Dropped(),
		Timeouts:       s.Ping.Timeouts + s.Noop.Timeouts,
		Series:         Series(s.Series[KindPing]),
		NoopSeries:     Series(s.Series[KindNoop]),
		SeriesBucketMS: reports.Millis(s.SeriesBucket),
	}
	if s.WakeLag != nil {
		hb.WakeLagP99MS = nsToMS(s.WakeLag.ValueAtQuantile(99))
	}
	if s.Interval > 0 {
		hb.Ping = Latencies(s.Ping)
	}
	if s.NoopInterval > 0 {
		hb.NoopTool = Latencies(s.Noop)
	}
	return hb
}

// ReportPhases returns one reports.Phase per heartbeat phase, with times
// relative to the heartbeat's Origin. ToolCalls is left for the runner.
func (s *HeartbeatSnapshot) ReportPhases() []reports.Phase {
	out := make([]reports.Phase, 0, len(s.Phases))
	for _, p := range s.Phases {
		end := p.End
		if end.IsZero() {
			end = time.Now()
		}
		rp := reports.Phase{Name: p.Name, StartMS: reports.Millis(p.Start.Sub(s.Origin)), EndMS: reports.Millis(end.Sub(s.Origin))}
		if s.Interval > 0 {
			rp.Ping = Latencies(p.Ping)
		}
		if s.NoopInterval > 0 {
			rp.NoopTool = Latencies(p.Noop)
		}
		out = append(out, rp)
	}
	return out
}

// ReportCalibration converts a calibration for result.json.
func ReportCalibration(c wake.Calibration) *reports.Calibration {
	return &reports.Calibration{
		IntervalMS: reports.Millis(c.Interval),
		Kernel:     reportLateness(c.Kernel),
		Prober:     reportLateness(c.Handoff),
		GoTimer:    reportLateness(c.GoTimer),
	}
}

func reportLateness(l wake.Lateness) reports.Lateness {
	return reports.Lateness{Clock: l.Clock, Samples: l.Samples,
		P50MS: reports.Millis(l.P50), P99MS: reports.Millis(l.P99), MaxMS: reports.Millis(l.Max)}
}
