package debug

import "runtime/metrics"

type metricsHist struct {
	counts  []uint64
	buckets []float64
}

func (h metricsHist) toRuntime() *metrics.Float64Histogram {
	return &metrics.Float64Histogram{Counts: h.counts, Buckets: h.buckets}
}
