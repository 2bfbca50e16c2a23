package debugapi

// Vars is /debug/vars: the server's components' counters.
type Vars struct {
	Logship Logship `json:"logship"`
	Calls   Calls   `json:"calls"`
	// Memory is the project-memory writer's counters, when it runs; its
	// shape is the writer's own.
	Memory any `json:"memory,omitempty"`
	// Transport is the MCP transport's accounting of what it did not serve.
	Transport Transport `json:"transport"`
}

// Transport counts the requests and answers the MCP transport did not
// carry through: nothing it turns away goes uncounted.
type Transport struct {
	// Refused counts requests refused at once because their kind's
	// in-flight bound was reached (JSON-RPC -32000 "server busy"; over
	// HTTP with status 503).
	Refused uint64 `json:"refused"`
	// Malformed counts stdio lines that were no JSON-RPC message (each was
	// answered with the error that says why).
	Malformed uint64 `json:"malformed"`
	// SuppressedResponses counts stdio answers not written because the
	// client had cancelled the request.
	SuppressedResponses uint64 `json:"suppressed_responses"`
	// Unwritten counts stdio messages never written: stdout failed, or
	// the client had stopped reading it when the server shut down.
	Unwritten uint64 `json:"unwritten"`
}

// Logship is the log pipeline's part of /debug/vars: each sink's
// accounting (absent when the sink is not configured).
type Logship struct {
	Mode         string        `json:"mode"`
	Stderr       *SinkStats    `json:"stderr,omitempty"`
	VictoriaLogs *ShipperStats `json:"victorialogs,omitempty"`
}

// SinkStats is one sink's accounting, taken in one consistent snapshot:
// Emitted = Delivered + DroppedTotal + Pending holds exactly in every
// snapshot, not only at rest.
type SinkStats struct {
	// Mode is "async", or "sync-stderr"/"sync-log" for the deliberately
	// blocking canary modes.
	Mode string `json:"mode"`
	// Emitted counts records this sink's handler was asked to handle (after
	// its level check).
	Emitted int64 `json:"emitted"`
	// Queued counts records accepted into the queue (async modes).
	Queued int64 `json:"queued"`
	// Delivered counts records written to stderr or stored by the sink's
	// 2xx answer.
	Delivered int64 `json:"delivered"`
	// Dropped counts records given up on, by [DropReason] name; every
	// reason is present, zeros included.
	Dropped      map[string]int64 `json:"dropped"`
	DroppedTotal int64            `json:"dropped_total"`
	// Pending counts records queued or in flight.
	Pending int64 `json:"pending"`
	// QueueRecords and QueueBytes are the queue's current size (in-flight
	// records excluded); the High values are the maxima seen since start,
	// which never exceed the configured bounds.
	QueueRecords     int64 `json:"queue_records"`
	QueueBytes       int64 `json:"queue_bytes"`
	QueueHighRecords int64 `json:"queue_high_records"`
	QueueHighBytes   int64 `json:"queue_high_bytes"`
	MaxQueueRecords  int64 `json:"max_queue_records"`
	MaxQueueBytes    int64 `json:"max_queue_bytes"`
}

// ShipperStats adds the VictoriaLogs shipper's request counters to
// [SinkStats].
type ShipperStats struct {
	SinkStats
	// Batches counts POSTs answered with a 2xx.
	Batches int64 `json:"batches"`
	// FailedRequests counts POSTs that failed (network error, timeout,
	// non-2xx); Retries counts the ones that were tried again.
	FailedRequests int64 `json:"failed_requests"`
	Retries        int64 `json:"retries"`
	// Notices counts the rate-limited "dropping records" notices sent to
	// stderr.
	Notices int64 `json:"notices"`
	// BatchLatency summarises every POST's duration, successful or not.
	BatchLatency LatencyStats `json:"batch_latency"`
}

// LatencyStats summarises an HdrHistogram of durations, in milliseconds.
type LatencyStats struct {
	Count int64   `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}
