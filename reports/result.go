package reports

import "time"

// SchemaVersion is the version of the result.json schema written by this
// package. Bump it on any incompatible change; additions keep the version.
const SchemaVersion = 1

// Verdicts of a scenario, a check and a run.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictInvalid = "invalid" // the harness itself fell behind; exit 3
)

// Result is the whole of one `secondbrain replay` run: what result.json holds.
type Result struct {
	SchemaVersion int        `json:"schema_version"`
	Run           RunInfo    `json:"run"`
	Scenarios     []Scenario `json:"scenarios"`
}

// RunInfo is the run's metadata.
type RunInfo struct {
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	TimeScale  float64   `json:"time_scale"`
	Transport  string    `json:"transport"` // stdio | http
	// Protocol is the MCP version the harness spoke (2025-11-25 pings;
	// 2026-07-28 probes with server/discover); empty in older results.
	Protocol  string   `json:"protocol,omitempty"`
	Seed      int64    `json:"seed"`
	ServerCmd []string `json:"server_cmd,omitempty"`
	GoVersion string   `json:"go_version"`
	GOOS      string   `json:"goos"`
	GOARCH    string   `json:"goarch"`
	NumCPU    int      `json:"num_cpu"`
	Hostname  string   `json:"hostname,omitempty"`
	Version   string   `json:"version"` // secondbrain version
	Canaries  bool     `json:"canaries,omitempty"`
	Verdict   string   `json:"verdict"` // pass | fail | invalid
	// Calibration is this machine's wake-up lateness, measured before the
	// first scenario; nil when it was not measured.
	Calibration *Calibration `json:"calibration,omitempty"`
}

// Calibration is how late this machine wakes a sleeping prober, measured
// for about a second before the first scenario while nothing else of the
// harness ran. A scenario's send lag far above it means the run, not the
// machine, made the prober late.
type Calibration struct {
	IntervalMS float64 `json:"interval_ms"`
	// Kernel: the prober's clock thread waking (clock_nanosleep).
	Kernel Lateness `json:"kernel"`
	// Prober: that wake-up plus the hand-off to the goroutine that sends
	// a probe — the whole path of a probe's send lag.
	Prober Lateness `json:"prober"`
	// GoTimer: Go's time.Timer on the same schedule, for reference.
	GoTimer Lateness `json:"go_timer"`
}

// Lateness summarises wake-up lateness (woke − intended) in milliseconds.
type Lateness struct {
	Clock   string  `json:"clock"`
	Samples int     `json:"samples"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// Attempt is one earlier run of a scenario that was replayed because it
// was invalid.
type Attempt struct {
	Verdict      string  `json:"verdict"`
	Invalid      string  `json:"invalid_reason,omitempty"`
	DurationMS   float64 `json:"duration_ms"`
	SendLagP99MS float64 `json:"send_lag_p99_ms,omitempty"`
}

// Scenario is one replayed scenario (one repeat merged, see Repeats).
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Source      string `json:"source,omitempty"` // the seed passage it reproduces
	Canary      string `json:"canary,omitempty"` // canary injected, if any
	Verdict     string `json:"verdict"`
	Invalid     string `json:"invalid_reason,omitempty"`
	// Attempts are the earlier, invalid runs of this scenario that were
	// replayed (replay --retry-invalid), oldest first; this result is the
	// last attempt.
	Attempts   []Attempt     `json:"attempts,omitempty"`
	Repeats    int           `json:"repeats"`
	StartedAt  time.Time     `json:"started_at"`
	DurationMS float64       `json:"duration_ms"` // wall-clock
	Steps      []Step        `json:"steps"`
	Checks     []Check       `json:"checks"`
	Phases     []Phase       `json:"phases,omitempty"`
	Heartbeat  *Heartbeat    `json:"heartbeat,omitempty"` // whole scenario, all phases merged
	Faults     []FaultWindow `json:"faults,omitempty"`
	Goroutines []Sample      `json:"goroutines,omitempty"` // server goroutine count over time
	Diagnosis  *Diagnosis    `json:"diagnosis,omitempty"`
	Logs       *LogAccount   `json:"logs,omitempty"`
	Error      string        `json:"error,omitempty"` // harness error, if the scenario could not run
	// Tools holds the scenario's own (closed-loop) call latencies per tool
	// name, all phases and repeats merged. reports.Summarize fills it from
	// Steps when the runner leaves it empty.
	Tools map[string]*Latencies `json:"tools,omitempty"`
	// Runtime series of the server from /debug/runtime (probes.Sampler).
	OpenFDs    []Sample `json:"open_fds,omitempty"`
	RSSMB      []Sample `json:"rss_mb,omitempty"`
	SchedP99MS []Sample `json:"sched_p99_ms,omitempty"` // scheduling latency p99 between reads
	// ForeignCPU is how many CPUs, on average, processes other than the
	// harness and the server kept busy during the scenario (Linux).
	ForeignCPU float64 `json:"foreign_cpu,omitempty"`
	// Fakes are the fake API's and the fake sink's own counters at the
	// scenario's end, keyed "api.<counter>" and "sink.<counter>"
	// (e.g. sink.records_received), so a result shows what the server
	// really sent upstream.
	Fakes map[string]int64 `json:"fakes,omitempty"`
	// Notes say what the harness could not measure in this scenario (an
	// endpoint the server does not serve, a fetch that failed) and what it
	// did on the way (breaches seen), so a missing check is never silent.
	Notes []string `json:"notes,omitempty"`
	// Loads are the scenario's open-model load steps, in order.
	Loads []Load `json:"loads,omitempty"`
}

// Step is one executed scenario step (a tool call, a gap, a fault change…).
type Step struct {
	Index     int     `json:"index"`
	Kind      string  `json:"kind"` // call | gap | fault | cancel | concurrent | ...
	Name      string  `json:"name,omitempty"`
	Tool      string  `json:"tool,omitempty"`
	Session   string  `json:"session,omitempty"`
	Phase     string  `json:"phase,omitempty"`
	StartMS   float64 `json:"start_ms"` // since scenario start, wall-clock
	LatencyMS float64 `json:"latency_ms"`
	Outcome   string  `json:"outcome"` // ok | error | cancelled | timeout | skipped
	Expected  string  `json:"expected,omitempty"`
	Pass      bool    `json:"pass"`
	Error     string  `json:"error,omitempty"`
	Detail    string  `json:"detail,omitempty"`
	CancelMS  float64 `json:"cancel_to_return_ms,omitempty"`
	NextOKMS  float64 `json:"cancel_to_next_ok_ms,omitempty"`
	// A call's latency split: UpstreamMS is the fake API's time on the
	// call's requests (joined by the traceparent the runner sent), ServerMS
	// the rest — the server's own share. Query is the same for calls that
	// ask the same thing (tool, context, arguments), whatever the session.
	ServerMS         float64 `json:"server_ms,omitempty"`
	UpstreamMS       float64 `json:"upstream_ms,omitempty"`
	UpstreamRequests int     `json:"upstream_requests,omitempty"`
	Query            string  `json:"query,omitempty"`
	// CallClass groups calls that cost the server alike: the tool, and
	// "+context" when the call sends files. A call made under a fault is
	// judged against the run's unfaulted calls of its class.
	CallClass string `json:"call_class,omitempty"`
}

// Check is one verdict check: a measured value against a threshold.
type Check struct {
	Name      string  `json:"name"`
	Phase     string  `json:"phase,omitempty"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit,omitempty"` // ms | count | ratio | bool
	Op        string  `json:"op"`             // <= | >= | ==
	Threshold float64 `json:"threshold"`
	Pass      bool    `json:"pass"`
	Detail    string  `json:"detail,omitempty"`
	// Samples is how many samples a percentile or max check rests on, when
	// the check records it (report diff does not count a change in a p99
	// of two cancelled calls).
	Samples int64 `json:"samples,omitempty"`
}

// Phase is a contiguous part of a scenario with one fault configuration
// ("baseline", "fault:slow-sink", "after"...), with its own histograms.
type Phase struct {
	Name      string     `json:"name"`
	StartMS   float64    `json:"start_ms"`
	EndMS     float64    `json:"end_ms"`
	Ping      *Latencies `json:"ping,omitempty"`
	NoopTool  *Latencies `json:"noop_tool,omitempty"`
	ToolCalls *Latencies `json:"tool_calls,omitempty"`
}

// Heartbeat summarises the prober over a scenario.
type Heartbeat struct {
	IntervalMS   float64    `json:"interval_ms"`
	Ping         *Latencies `json:"ping,omitempty"`
	NoopTool     *Latencies `json:"noop_tool,omitempty"`
	SendLagP99MS float64    `json:"send_lag_p99_ms"`
	// Clock kept the probes' schedule; WakeLagP99MS is its own lateness
	// (the rest of the send lag is the hand-off to the probe).
	Clock        string   `json:"clock,omitempty"`
	SendLagP50MS float64  `json:"send_lag_p50_ms,omitempty"`
	WakeLagP99MS float64  `json:"wake_lag_p99_ms,omitempty"`
	DroppedTicks int64    `json:"dropped_ticks"`
	Timeouts     int64    `json:"timeouts"`
	Series       []Sample `json:"series,omitempty"` // ping latency over time: the worst of each SeriesBucketMS window
	// SeriesBucketMS is the width of one Series window (0 in older results: 250).
	SeriesBucketMS float64  `json:"series_bucket_ms,omitempty"`
	HistFile       string   `json:"hlog,omitempty"`        // .hlog path relative to --out
	NoopSeries     []Sample `json:"noop_series,omitempty"` // no-op tool latency over time, like Series
}

// Latencies are percentiles of one histogram, in milliseconds.
type Latencies struct {
	Count  int64 `json:"count"`
	Errors int64 `json:"errors,omitempty"`
	// Cancelled counts calls that ended because the client cancelled them
	// (not errors: the scenario asked for it).
	Cancelled int64   `json:"cancelled,omitempty"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Max       float64 `json:"max_ms"`
	Mean      float64 `json:"mean_ms"`
	// Hist is the histogram itself, HdrHistogram V2 compressed and base64
	// encoded (hdrhistogram.Histogram.Encode), so runs can be merged and diffed.
	Hist string `json:"hist,omitempty"`
}

// Sample is one point of a time series.
type Sample struct {
	TMS   float64 `json:"t_ms"` // since scenario start
	Value float64 `json:"v"`
}

// FaultWindow is a period during which a fault was injected, for shading plots.
type FaultWindow struct {
	Name    string  `json:"name"`
	StartMS float64 `json:"start_ms"`
	EndMS   float64 `json:"end_ms"`
}

// Diagnosis names where request-path goroutines waited.
type Diagnosis struct {
	Cause   string    `json:"cause"`   // a label from the documented rule set
	Culprit string    `json:"culprit"` // package.Function (file:line)
	Summary string    `json:"summary"`
	Frames  []Culprit `json:"frames"` // ranked
	// Holder is what held the resource the culprit waited for, when the
	// evidence names it: for a lock, the goroutine that released it, at
	// release (mutex profile).
	Holder   *Culprit `json:"holder,omitempty"`
	Profiles []string `json:"profiles,omitempty"` // raw pprof files saved beside result.json
}

// Culprit is one ranked frame where goroutines waited.
type Culprit struct {
	Frame      string   `json:"frame"` // package.Function (file:line)
	Cause      string   `json:"cause"`
	Goroutines int      `json:"goroutines"`
	WaitMS     float64  `json:"wait_ms"`
	Source     string   `json:"source"` // block | mutex | goroutine | trace
	Stack      []string `json:"stack,omitempty"`
}

// LogAccount is the log-shipping bookkeeping of a scenario.
type LogAccount struct {
	Emitted       int64            `json:"emitted"`
	Delivered     int64            `json:"delivered"`
	Dropped       int64            `json:"dropped"`
	DroppedBy     map[string]int64 `json:"dropped_by,omitempty"`
	Pending       int64            `json:"pending"`
	SinkReceived  int64            `json:"sink_received"`
	Unaccounted   int64            `json:"unaccounted"`
	StderrDropped int64            `json:"stderr_dropped"`
}
