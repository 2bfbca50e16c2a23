package reports

// Load is one open-model load run: a scenario's load step, or one run of
// `secondbrain load`. Rates are real calls per second (the time scale
// shrinks the fakes' latencies, never the load).
type Load struct {
	// Step is the index of the load step in the scenario's Steps.
	Step int    `json:"step"`
	Name string `json:"name"`
	// StartMS is when the load began, since the scenario's start.
	StartMS    float64 `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
	Transport  string  `json:"transport,omitempty"`
	// Sessions is how many MCP sessions (HTTP) or conversation
	// session_ids (stdio) the arrivals were spread over.
	Sessions int `json:"sessions,omitempty"`
	// Connections is how many HTTP connections carried the calls (0 over
	// stdio: one pipe).
	Connections int `json:"connections,omitempty"`
	// OfferedRate is the profile's mean arrival rate; PeakRate its highest.
	OfferedRate float64 `json:"offered_rate"`
	PeakRate    float64 `json:"peak_rate"`
	// AchievedRate is the calls answered per second of the profile.
	AchievedRate float64 `json:"achieved_rate"`
	MaxInFlight  int     `json:"max_in_flight"`
	// Scheduled arrivals = Sent + Dropped. Dropped arrivals found
	// MaxInFlight calls in flight and were not sent (k6's dropped
	// iterations); Blocked ones were sent late by a goroutine because the
	// transport could not take them at once (their lateness is in
	// SendLag).
	Scheduled int64 `json:"scheduled"`
	Sent      int64 `json:"sent"`
	Dropped   int64 `json:"dropped"`
	Blocked   int64 `json:"blocked,omitempty"`
	// Retried calls were written again on a fresh HTTP connection: the
	// server had closed the idle one they went out on, unread.
	Retried   int64 `json:"retried,omitempty"`
	Completed int64 `json:"completed"`
	Errors    int64 `json:"errors"`
	// Clock kept the schedule; SendLag is write time minus intended time,
	// WakeLag the clock's own share of it.
	Clock   string     `json:"clock"`
	SendLag *Latencies `json:"send_lag"`
	WakeLag *Latencies `json:"wake_lag,omitempty"`
	// Tools are per entry of the mix (name: the entry's, by default the
	// tool, "+context" when it sends files).
	Tools []LoadTool `json:"tools"`
	// Series is the load over time, one point per SeriesBucketMS.
	Series         []LoadSample `json:"series,omitempty"`
	SeriesBucketMS float64      `json:"series_bucket_ms,omitempty"`
	// Capacity is the result of a capacity search (find_limit), nil for a
	// plain load.
	Capacity *Capacity `json:"capacity,omitempty"`
	// Invalid says why the generator's figures cannot be trusted (it fell
	// behind its schedule); empty when they can.
	Invalid  string `json:"invalid_reason,omitempty"`
	HistFile string `json:"hlog,omitempty"` // .hlog path relative to --out
}

// LoadTool is one entry of a load's mix.
type LoadTool struct {
	Name   string `json:"name"`
	Tool   string `json:"tool"`
	Weight int    `json:"weight"`
	Sent   int64  `json:"sent"`
	OK     int64  `json:"ok"`
	// Errors counts failed calls by class: "tool_error" (isError),
	// "rpc:<code>" (a JSON-RPC error), "http:<status>", "timeout",
	// "transport" (the connection or pipe broke).
	Errors map[string]int64 `json:"errors,omitempty"`
	// ErrorSamples keeps the first message of each class.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Dropped      int64             `json:"dropped,omitempty"`
	// Latency is measured from each arrival's intended time (corrected for
	// coordinated omission); Service from when it was written (raw).
	Latency *Latencies `json:"latency"`
	Service *Latencies `json:"service"`
}

// LoadSample is one window of a load's series. Counts are per window;
// latencies are of the calls answered in it (corrected).
type LoadSample struct {
	TMS       float64 `json:"t_ms"` // window start, since the load began
	Offered   int64   `json:"offered"`
	Sent      int64   `json:"sent"`
	Dropped   int64   `json:"dropped,omitempty"`
	Completed int64   `json:"completed"`
	Errors    int64   `json:"errors,omitempty"`
	P50MS     float64 `json:"p50_ms,omitempty"`
	P99MS     float64 `json:"p99_ms,omitempty"`
	MaxMS     float64 `json:"max_ms,omitempty"`
}

// Capacity is a capacity search: the highest offered rate whose trial held
// every limit, and each trial on the way.
type Capacity struct {
	// Rate is the highest passing rate (calls/s); 0 when none passed.
	Rate  float64 `json:"rate"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	// Limit says what broke in the lowest failing trial ("p99 412 ms >
	// 250 ms at 800/s"); empty if none failed up to the search's maximum.
	Limit string `json:"limit,omitempty"`
	// Bound says why the search stopped where it did ("reached max rate",
	// "resolution 5 %", "the generator fell behind at 4000/s").
	Bound  string         `json:"bound,omitempty"`
	Limits CapacityLimits `json:"limits"`
	Trials []Trial        `json:"trials"`
}

// CapacityLimits are what a trial must hold to pass.
type CapacityLimits struct {
	P99MS        float64 `json:"p99_ms"`
	ErrorRatio   float64 `json:"error_ratio"`
	DroppedRatio float64 `json:"dropped_ratio"`
}

// Trial is one rate tried by a capacity search.
type Trial struct {
	Rate         float64 `json:"rate"`
	Achieved     float64 `json:"achieved_rate"`
	StartMS      float64 `json:"start_ms"` // since the load began
	DurationMS   float64 `json:"duration_ms"`
	Sent         int64   `json:"sent"`
	P50MS        float64 `json:"p50_ms"`
	P99MS        float64 `json:"p99_ms"`
	ErrorRatio   float64 `json:"error_ratio"`
	DroppedRatio float64 `json:"dropped_ratio"`
	SendLagP99MS float64 `json:"send_lag_p99_ms"`
	Pass         bool    `json:"pass"`
	// Broke names the limit the trial broke; Invalid why it could not be
	// judged (the generator fell behind).
	Broke   string `json:"broke,omitempty"`
	Invalid string `json:"invalid_reason,omitempty"`
}
