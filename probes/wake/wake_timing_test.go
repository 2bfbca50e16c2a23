package wake

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCalibrate reports each clock's wake-up lateness on this machine
// (p99 in µs) as metrics, so figures live in benchmark output, never in a
// timed assertion:
//
//	go test -run '^$' -bench Calibrate -benchtime 3x ./probes/wake/
func BenchmarkCalibrate(b *testing.B) {
	var kernel, handoff, timer []float64
	for b.Loop() {
		cal, err := Calibrate(context.Background(), CalibrateOptions{Interval: 5 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		kernel = append(kernel, us(cal.Kernel.P99))
		handoff = append(handoff, us(cal.Handoff.P99))
		timer = append(timer, us(cal.GoTimer.P99))
	}
	b.ReportMetric(mean(kernel), "kernel-p99-µs")
	b.ReportMetric(mean(handoff), "handoff-p99-µs")
	b.ReportMetric(mean(timer), "gotimer-p99-µs")
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(max(1, len(xs)))
}
