package logship

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the pipeline's counters to Prometheus. Register it on
// the registry the debug listener serves. It reads [Pipeline.Stats] on each
// scrape, so it holds no state of its own.
func (p *Pipeline) Collector() prometheus.Collector { return pipelineCollector{p} }

var (
	descEmitted = prometheus.NewDesc("secondbrain_log_records_emitted_total",
		"Log records handed to a sink (after its level check).", []string{"sink"}, nil)
	descDelivered = prometheus.NewDesc("secondbrain_log_records_delivered_total",
		"Log records written to stderr or accepted by VictoriaLogs.", []string{"sink"}, nil)
	descDropped = prometheus.NewDesc("secondbrain_log_records_dropped_total",
		"Log records given up on, by reason.", []string{"sink", "reason"}, nil)
	descPending = prometheus.NewDesc("secondbrain_log_records_pending",
		"Log records queued or in flight.", []string{"sink"}, nil)
	descQueueBytes = prometheus.NewDesc("secondbrain_log_queue_bytes",
		"Bytes in a sink's queue.", []string{"sink"}, nil)
	descRetries = prometheus.NewDesc("secondbrain_log_ship_retries_total",
		"VictoriaLogs POSTs retried after a failure.", nil, nil)
	descFailed = prometheus.NewDesc("secondbrain_log_ship_failed_requests_total",
		"VictoriaLogs POSTs that failed.", nil, nil)
	descBatch = prometheus.NewDesc("secondbrain_log_ship_batch_seconds",
		"Duration of VictoriaLogs POSTs (HdrHistogram quantiles).", nil, nil)
)

type pipelineCollector struct{ p *Pipeline }

func (c pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEmitted, descDelivered, descDropped, descPending,
		descQueueBytes, descRetries, descFailed, descBatch} {
		ch <- d
	}
}

func (c pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.Stats()
	sink := func(name string, s *SinkStats) {
		ch <- prometheus.MustNewConstMetric(descEmitted, prometheus.CounterValue, float64(s.Emitted), name)
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(s.Delivered), name)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.Pending), name)
		ch <- prometheus.MustNewConstMetric(descQueueBytes, prometheus.GaugeValue, float64(s.QueueBytes), name)
		for reason, n := range s.Dropped {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(n), name, reason)
		}
	}
	if st.Stderr != nil {
		sink("stderr", st.Stderr)
	}
	if v := st.VictoriaLogs; v != nil {
		sink("victorialogs", &v.SinkStats)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(v.Retries))
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(v.FailedRequests))
		l := v.BatchLatency
		ch <- prometheus.MustNewConstSummary(descBatch, uint64(l.Count), 0, map[float64]float64{
			0.5: l.P50ms / 1e3, 0.9: l.P90ms / 1e3, 0.99: l.P99ms / 1e3, 1: l.MaxMs / 1e3,
		})
	}
}
