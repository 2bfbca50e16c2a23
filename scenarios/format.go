package scenarios

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Scenario is one parsed scenario file. A Scenario is immutable once Parse
// returns it; the runner and any number of goroutines may read it.
type Scenario struct {
	// Name identifies the scenario on the command line and in reports.
	Name string `yaml:"name"`
	// Description says what the scenario replays; its first line is the
	// summary `secondbrain scenarios list` prints.
	Description string `yaml:"description"`
	// Source is the seed passage the scenario reproduces.
	Source Source `yaml:"source"`
	// Server adds flags and environment to the server under test.
	Server ServerSpec `yaml:"server"`
	// Transport forces a transport ("stdio" or "http"); empty means the
	// run's choice. stderr-backpressure forces stdio, since only stdio has a
	// host-side stderr pipe worth starving.
	Transport string `yaml:"transport"`
	// Stderr says how the host treats the server's stderr (stdio and http
	// both start a subprocess whose stderr the runner holds).
	Stderr StderrMode `yaml:"stderr"`
	// Project is the context tree the calls send.
	Project Project `yaml:"project"`
	// Faults are switched on before the first step.
	Faults Faults `yaml:"faults"`
	// Steps run in order.
	Steps []Step `yaml:"steps"`
	// Thresholds is kept as YAML for the probes package, which owns the
	// verdict rules: decode it with [Scenario.DecodeThresholds].
	Thresholds ast.Node `yaml:"thresholds"`

	file string    // where the scenario came from, for errors
	root *ast.File // the parsed document, for positions in later errors
}

// Source cites the seed passage a scenario reproduces.
type Source struct {
	// Seed is the seed file name, e.g. "001_d5362377638e66bf.txt".
	Seed string `yaml:"seed"`
	// Quote is a passage copied from that file; Parse checks nothing about
	// it beyond being present, a test checks it really occurs in the seed.
	Quote string `yaml:"quote"`
}

// ServerSpec adjusts the server process for one scenario.
type ServerSpec struct {
	// Args are appended to the runner's `serve` flags.
	Args []string `yaml:"args"`
	// Env is added to the server's environment.
	Env map[string]string `yaml:"env"`
	// LogLevel is passed as --log-level (debug | info | warn | error).
	LogLevel string `yaml:"log_level"`
	// LogShipping is passed as --log-shipping (async | sync).
	LogShipping string `yaml:"log_shipping"`
}

// StderrMode is how the host reads the server's stderr pipe. It is written
// as a scalar: "drain" (the default: read as fast as it comes), "none"
// (never read: once the 64 KiB pipe buffer fills, every write blocks — the
// original incident's root cause) or "slow 2KiB/s" (read at that rate),
// optionally followed by "pipe <size>" to resize the pipe's buffer (Linux:
// F_SETPIPE_SZ, rounded up to a page). Time is shrunk by the time scale but
// a server's log volume is not: a quiet server fills 64 KiB only after
// hours of real use, so a scenario shrinks the buffer instead
// ("none pipe 4KiB").
type StderrMode struct {
	Mode        string // drain | slow | none
	BytesPerSec int64  // for slow
	PipeSize    int64  // 0: the system's default (64 KiB on Linux)
}

// Stderr modes.
const (
	StderrDrain = "drain"
	StderrSlow  = "slow"
	StderrNone  = "none"
)

func (m StderrMode) String() string {
	var s string
	switch m.Mode {
	case "", StderrDrain:
		s = StderrDrain
	case StderrSlow:
		s = fmt.Sprintf("slow %dB/s", m.BytesPerSec)
	default:
		s = m.Mode
	}
	if m.PipeSize > 0 {
		s += fmt.Sprintf(" pipe %dB", m.PipeSize)
	}
	return s
}

// UnmarshalYAML parses the scalar form. Errors carry the node's position so
// Parse can name the line and key.
func (m *StderrMode) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarString(node)
	if !ok {
		return posErr(node, "want drain, none or \"slow <size>/s\"")
	}
	fields := strings.Fields(s)
	if n := len(fields); n >= 3 && fields[n-2] == "pipe" {
		size, err := ParseSize(fields[n-1])
		if err != nil || size <= 0 {
			return posErr(node, fmt.Sprintf("bad pipe size %q: want e.g. \"none pipe 4KiB\"", fields[n-1]))
		}
		m.PipeSize = size
		fields = fields[:n-2]
	}
	switch {
	case len(fields) == 1 && (fields[0] == StderrDrain || fields[0] == StderrNone):
		m.Mode = fields[0]
		return nil
	case len(fields) == 2 && fields[0] == StderrSlow:
		rate := strings.TrimSuffix(fields[1], "/s")
		n, err := ParseSize(rate)
		if err != nil || n <= 0 || rate == fields[1] {
			return posErr(node, fmt.Sprintf("bad rate %q: want e.g. \"slow 2KiB/s\"", fields[1]))
		}
		m.Mode, m.BytesPerSec = StderrSlow, n
		return nil
	}
	return posErr(node, fmt.Sprintf("unknown stderr mode %q: want drain, none or \"slow <size>/s\"", s))
}

// Project is the context tree a scenario's calls send: either a generated
// tree (the default, like the incidents' runs: ~90 overflow files plus files
// that inline) or an existing directory.
type Project struct {
	// Path is an existing directory to use instead of a generated tree.
	Path string `yaml:"path"`
	// Files is how many large files to generate: they exceed the model's
	// inline budget and go to the vector store ("overflow").
	Files int `yaml:"files"`
	// Size of each large file (e.g. "48KiB").
	Size Size `yaml:"size"`
	// InlineFiles is how many small files to generate; they fit the budget.
	InlineFiles int `yaml:"inline_files"`
	// InlineSize of each small file.
	InlineSize Size `yaml:"inline_size"`
	// Dirs spreads the files over this many directories.
	Dirs int `yaml:"dirs"`
}

// Generated reports whether the runner generates the tree.
func (p Project) Generated() bool { return p.Path == "" }

// Size is a byte count written like "4KiB", "1.5MiB", "512" or "2KB".
type Size int64

// UnmarshalYAML parses a size scalar.
func (s *Size) UnmarshalYAML(node ast.Node) error {
	str, ok := scalarString(node)
	if !ok {
		return posErr(node, "want a size like 4KiB")
	}
	n, err := ParseSize(str)
	if err != nil {
		return posErr(node, err.Error())
	}
	*s = Size(n)
	return nil
}

// ParseSize parses "4KiB", "2MB", "512", "1.5MiB" into bytes.
func ParseSize(s string) (int64, error) {
	str := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q: want e.g. 4KiB, 2MB, 512", s)
	}
	return int64(f * mult), nil
}

// Duration is a scenario-time duration written like "3m", "8.6s", "250ms".
// The runner divides it by the run's time scale.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration scalar; negative durations are refused.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarString(node)
	if !ok {
		return posErr(node, "want a duration like 3m or 8.6s")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return posErr(node, fmt.Sprintf("bad duration %q: want e.g. 3m, 8.6s, 250ms", s))
	}
	if v < 0 {
		return posErr(node, fmt.Sprintf("negative duration %q", s))
	}
	*d = Duration(v)
	return nil
}

// Step is one step of a scenario; exactly one field is set.
type Step struct {
	// Call makes one tool call.
	Call *Call `yaml:"call"`
	// Gap waits this long (scenario time) doing nothing.
	Gap *Duration `yaml:"gap"`
	// Fault sets or clears faults.
	Fault *FaultStep `yaml:"fault"`
	// Cancel cancels the in-flight background calls after a delay.
	Cancel *CancelStep `yaml:"cancel"`
	// Wait joins the in-flight background calls.
	Wait *WaitStep `yaml:"wait"`
	// Concurrent makes K copies of a call at once.
	Concurrent *Concurrent `yaml:"concurrent"`
	// Repeat runs nested steps N times.
	Repeat *Repeat `yaml:"repeat"`
	// Phase marks the start of a named phase ("baseline", "faulted"…);
	// probes keep separate histograms per phase.
	Phase *string `yaml:"phase"`
	// Load runs an open-model load: calls arrive at a rate, whether or
	// not earlier ones have returned.
	Load *Load `yaml:"load"`
}

// Step kinds, as reported in results.
const (
	KindCall       = "call"
	KindGap        = "gap"
	KindFault      = "fault"
	KindCancel     = "cancel"
	KindWait       = "wait"
	KindConcurrent = "concurrent"
	KindRepeat     = "repeat"
	KindPhase      = "phase"
	KindLoad       = "load"
)

// Kind names the step's kind.
func (s Step) Kind() string {
	switch {
	case s.Call != nil:
		return KindCall
	case s.Gap != nil:
		return KindGap
	case s.Fault != nil:
		return KindFault
	case s.Cancel != nil:
		return KindCancel
	case s.Wait != nil:
		return KindWait
	case s.Concurrent != nil:
		return KindConcurrent
	case s.Repeat != nil:
		return KindRepeat
	case s.Phase != nil:
		return KindPhase
	case s.Load != nil:
		return KindLoad
	}
	return ""
}

func (s Step) kinds() int {
	n := 0
	for _, set := range []bool{s.Call != nil, s.Gap != nil, s.Fault != nil, s.Cancel != nil,
		s.Wait != nil, s.Concurrent != nil, s.Repeat != nil, s.Phase != nil, s.Load != nil} {
		if set {
			n++
		}
	}
	return n
}

// Call is one tool call.
type Call struct {
	// Name labels the call in reports (default: the tool).
	Name string `yaml:"name"`
	// Tool is the MCP tool, e.g. chat_with_o3.
	Tool string `yaml:"tool"`
	// Instructions and OutputFormat are the tool's required text params.
	Instructions string `yaml:"instructions"`
	OutputFormat string `yaml:"output_format"`
	// Context lists paths relative to the project root. Omitted means the
	// whole project ("."); an empty list means a no-context call.
	Context *[]string `yaml:"context"`
	// Session is the session_id.
	Session string `yaml:"session"`
	// Expect is the expected outcome: ok (default), error or cancelled.
	Expect string `yaml:"expect"`
	// Progress sends a progress token, so the server must report progress.
	Progress bool `yaml:"progress"`
	// Background starts the call and goes on to the next step; a later
	// cancel or wait step (or the scenario's end) joins it.
	Background bool `yaml:"background"`
	// Timeout bounds the call (scenario time); default 30m.
	Timeout Duration `yaml:"timeout"`
	// Args are extra tool arguments (reasoning_effort, temperature…).
	Args map[string]any `yaml:"args"`
}

// querySignature identifies what a call asks, whatever its session or
// name: the tool, its context and arguments. Calls with one signature ask
// the same query ("the second query hangs").
func (c *Call) querySignature() string {
	ctx := "."
	if c.Context != nil {
		ctx = "none"
		if len(*c.Context) > 0 {
			ctx = strings.Join(*c.Context, "\x00")
		}
	}
	args, _ := json.Marshal(c.Args) // map keys come sorted
	h := fnv.New64a()
	for _, part := range []string{c.Tool, ctx, c.Instructions, c.OutputFormat, string(args)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%s-%016x", c.Tool, h.Sum64())
}

// Expected outcomes of a call.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"
	OutcomeCancelled = "cancelled"
	OutcomeTimeout   = "timeout"
)

// Load is an open-model load step. Unlike the rest of a scenario, its
// rates and durations are real time: calls per second are what the server
// really takes (the time scale shrinks the fakes' latencies, not the
// load). The rate is either Rate for Duration, or StartRate then Stages.
type Load struct {
	// Name labels the load in reports (default "load").
	Name      string      `yaml:"name"`
	Rate      float64     `yaml:"rate"`
	Duration  Duration    `yaml:"duration"`
	StartRate float64     `yaml:"start_rate"`
	Stages    []LoadStage `yaml:"stages"`
	// Mix is the calls, drawn by weight.
	Mix []MixEntry `yaml:"mix"`
	// Sessions spreads the calls over this many sessions: MCP sessions
	// over HTTP (several hosts), session_ids over stdio (one host's
	// pipe). Default 1.
	Sessions int `yaml:"sessions"`
	// ChurnEvery renews a session after it carried this many calls (a
	// host starting a new conversation); 0 reuses the sessions for the
	// whole load, 1 gives every call a fresh session. A conversation grows
	// with each call, and so does what the server sends upstream for it.
	ChurnEvery int `yaml:"churn_every"`
	// MaxInFlight bounds the calls sent and not answered; an arrival that
	// finds it reached is dropped and counted. Over HTTP it is also the
	// number of connections (one call at a time on each, as HTTP/1.1
	// does). Default 64.
	MaxInFlight int `yaml:"max_in_flight"`
	// Timeout ends a call unanswered this long after its intended time
	// (real time, default 30s).
	Timeout    Duration       `yaml:"timeout"`
	Thresholds LoadThresholds `yaml:"thresholds"`
	// FindLimit turns the step into a capacity search: Rate, Duration
	// and Stages are then not used.
	FindLimit *FindLimit `yaml:"find_limit"`
}

// LoadStage is one stage of a load: the rate moves linearly to Rate over
// Duration.
type LoadStage struct {
	Duration Duration `yaml:"duration"`
	Rate     float64  `yaml:"rate"`
}

// MixEntry is one kind of call of a load, drawn Weight times in every
// sum-of-weights arrivals (default weight 1).
type MixEntry struct {
	Weight int   `yaml:"weight"`
	Call   *Call `yaml:"call"`
}

// LoadThresholds judge a load step (and each trial of a capacity search).
type LoadThresholds struct {
	// P99 bounds the corrected p99 of all the load's calls (0: unchecked;
	// a capacity search defaults it to 1s).
	P99 Duration `yaml:"p99"`
	// ErrorRatio and DroppedRatio bound failed calls and unsent arrivals
	// (default 0: none allowed).
	ErrorRatio   float64 `yaml:"error_ratio"`
	DroppedRatio float64 `yaml:"dropped_ratio"`
	// MinRate is a floor on the answered calls per second (0: unchecked).
	MinRate float64 `yaml:"min_rate"`
}

// FindLimit is a capacity search: trials at constant rates from Start,
// doubling until one breaks a threshold or Max is reached, then bisection
// to Resolution. Floor, when set, is a check: the capacity found must be
// at least that.
type FindLimit struct {
	Start      float64  `yaml:"start"`
	Max        float64  `yaml:"max"`
	Trial      Duration `yaml:"trial"`
	Resolution float64  `yaml:"resolution"`
	Cooldown   Duration `yaml:"cooldown"`
	Floor      float64  `yaml:"floor"`
}

// FaultStep changes faults: Set is applied on top of the current faults,
// Clear resets the named sides ("api", "sink" or "all") to no fault first.
// With For set, the change is undone (the side cleared) after that long.
type FaultStep struct {
	API   *APIFaults  `yaml:"api"`
	Sink  *SinkFaults `yaml:"sink"`
	Clear []string    `yaml:"clear"`
	For   Duration    `yaml:"for"`
}

// CancelStep waits After (scenario time), then cancels every in-flight
// background call and waits for each to return, recording cancel-to-return.
type CancelStep struct {
	After Duration `yaml:"after"`
}

// WaitStep joins every in-flight background call.
type WaitStep struct {
	// Timeout bounds the wait (scenario time); default 30m.
	Timeout Duration `yaml:"timeout"`
}

// Concurrent makes Count copies of Call at once and waits for all. Unless
// SameSession, copy i uses session "<session>-<i>".
type Concurrent struct {
	Count       int   `yaml:"count"`
	SameSession bool  `yaml:"same_session"`
	Call        *Call `yaml:"call"`
}

// Repeat runs Steps Times times.
type Repeat struct {
	Times int    `yaml:"times"`
	Steps []Step `yaml:"steps"`
}

// Faults is a fault configuration for both fakes.
type Faults struct {
	API  *APIFaults  `yaml:"api"`
	Sink *SinkFaults `yaml:"sink"`
}

// APIFaults configure the fake OpenAI API (package scenarios/fakeai); the
// keys mirror its fault model. Zero fields mean no fault. Durations are
// scenario time.
type APIFaults struct {
	// Latency added to each request of a kind.
	UploadLatency      Duration `yaml:"upload_latency"`       // POST /v1/files
	ResponseLatency    Duration `yaml:"response_latency"`     // POST /v1/responses
	PollLatency        Duration `yaml:"poll_latency"`         // GET of a response, store, file or batch
	ChatLatency        Duration `yaml:"chat_latency"`         // POST /v1/chat/completions
	DeleteLatency      Duration `yaml:"delete_latency"`       // DELETE of anything
	VectorStoreLatency Duration `yaml:"vector_store_latency"` // POST on /v1/vector_stores/…
	// ResponseDuration keeps a background response queued/in_progress this
	// long before it completes (a deep-research answer took ~340 s of polling).
	ResponseDuration Duration `yaml:"response_duration"`
	// BatchDuration keeps vector-store files and batches in_progress.
	BatchDuration Duration `yaml:"batch_duration"`
	// Throttle degrades uploads after heavy use and recovers after a window
	// (uploads 6–7× slower, recovering after 3–5 minutes).
	Throttle *Throttle `yaml:"throttle"`
	// RateLimit answers 429 with Retry-After to the requests it hits.
	RateLimit *Rule `yaml:"rate_limit"`
	// ServerErrors answers 5xx to the requests it hits.
	ServerErrors *Rule `yaml:"server_errors"`
	// Stall holds the requests it hits until the client gives up.
	Stall *Rule `yaml:"stall"`
	// DeleteStall stalls deletes (default paths: vector-store and file deletes).
	DeleteStall *Rule `yaml:"delete_stall"`
	// StoreLimit caps live vector stores (default: the fake's, 100).
	StoreLimit int `yaml:"store_limit"`
	// PrefillStores creates this many idle vector stores at the fake before
	// the server starts, so a scenario can begin at the limit.
	PrefillStores int `yaml:"prefill_stores"`
	// FailFiles are name patterns whose files end "failed" in a store.
	FailFiles []string `yaml:"fail_files"`
}

// Throttle is the fake's upload throttle: after AfterUploads uploads (or
// AfterBytes bytes) within one Recovery window, every upload waits Factor
// times longer, until no upload arrived for Recovery.
type Throttle struct {
	Factor       float64  `yaml:"factor"`
	AfterUploads int      `yaml:"after_uploads"`
	AfterBytes   Size     `yaml:"after_bytes"`
	Base         Duration `yaml:"base"`
	Recovery     Duration `yaml:"recovery"`
}

// Rule picks the requests a fault hits: Count in total (-1 = no limit),
// or every Every-th; Paths are "[METHOD ]PATH" prefixes or globs (empty =
// every /v1/ route).
type Rule struct {
	Count      int      `yaml:"count"`
	Every      int      `yaml:"every"`
	Paths      []string `yaml:"paths"`
	RetryAfter Duration `yaml:"retry_after"` // rate_limit only
	Status     int      `yaml:"status"`      // server_errors only
}

// SinkFaults configure the fake VictoriaLogs sink (scenarios/fakesink).
// Durations are scenario time.
type SinkFaults struct {
	// Delay holds every ingestion request this long (the post-mortem's
	// sink that "stalls 5 s per request").
	Delay Duration `yaml:"delay"`
	// Stall makes every request arriving in the next Stall wait until that
	// window has ended.
	Stall Duration `yaml:"stall"`
	// Hang holds every request until its client gives up.
	Hang bool `yaml:"hang"`
	// Status answers ingestion with this 5xx; ErrorCount limits it to that
	// many requests (0 = all while set).
	Status     int `yaml:"status"`
	ErrorCount int `yaml:"error_count"`
	// Stopped refuses connections until the fault is cleared.
	Stopped bool `yaml:"stopped"`
}

// RealLength is the scenario's nominal length in scenario time: the sum of
// its gaps, cancel delays and fault windows that delay steps (calls are
// counted as zero, since their length depends on the server).
func (s *Scenario) RealLength() time.Duration { return stepsLength(s.Steps) }

func stepsLength(steps []Step) time.Duration {
	var d time.Duration
	for _, st := range steps {
		switch {
		case st.Gap != nil:
			d += st.Gap.D()
		case st.Cancel != nil:
			d += st.Cancel.After.D()
		case st.Repeat != nil:
			d += time.Duration(st.Repeat.Times) * stepsLength(st.Repeat.Steps)
		}
	}
	return d
}

// MinLength is a lower bound of the scenario's length in scenario time:
// [Scenario.RealLength] plus what the API faults in force make each
// foreground model call take at least (a background response's
// response_duration, the response_latency of creating it). Calls take
// longer than that (uploads, polling), so this is a bound, "≥", not a
// prediction. Background calls overlap the steps after them and add
// nothing; concurrent copies run at once and count once.
func (s *Scenario) MinLength() time.Duration {
	d, _ := minLength(s.Steps, s.Faults.API)
	return d
}

func minLength(steps []Step, api *APIFaults) (time.Duration, *APIFaults) {
	var d time.Duration
	callMin := func(c *Call) time.Duration {
		if c == nil || c.Background || !IsModelTool(c.Tool) || api == nil {
			return 0
		}
		return api.ResponseDuration.D() + api.ResponseLatency.D()
	}
	for _, st := range steps {
		switch {
		case st.Gap != nil:
			d += st.Gap.D()
		case st.Cancel != nil:
			d += st.Cancel.After.D()
		case st.Call != nil:
			d += callMin(st.Call)
		case st.Concurrent != nil:
			d += callMin(st.Concurrent.Call)
		case st.Fault != nil:
			for _, c := range st.Fault.Clear {
				if c == "api" || c == "all" {
					api = nil
				}
			}
			if st.Fault.API != nil {
				api = st.Fault.API // the runner replaces the API's faults
			}
		case st.Repeat != nil:
			for range st.Repeat.Times {
				var r time.Duration
				r, api = minLength(st.Repeat.Steps, api)
				d += r
			}
		}
	}
	return d, api
}

// Summary is the first line of the description.
func (s *Scenario) Summary() string {
	line, _, _ := strings.Cut(strings.TrimSpace(s.Description), "\n")
	return strings.TrimSpace(line)
}

// File is where the scenario was read from.
func (s *Scenario) File() string { return s.file }
