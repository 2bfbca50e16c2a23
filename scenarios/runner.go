package scenarios

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/probes/wake"
	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Defaults of [Options].
const (
	DefaultTimeScale    = 60
	DefaultTransport    = "stdio"
	DefaultStartTimeout = 30 * time.Second
	// DefaultCallTimeout bounds a call in scenario time when the file does
	// not say: the longest model timeout of the registry is 1 h.
	DefaultCallTimeout = 60 * time.Minute
	// cancelReturnBound is how long (real time) a cancel step waits for
	// the cancelled calls to return before calling it a failure.
	cancelReturnBound = 10 * time.Second
)

// TempPrefix starts the name of every temp dir a run creates; the pid of
// the run follows, so a later run can remove what a killed one left.
const TempPrefix = "secondbrain-replay-"

// Options configure a [Runner]. The zero value runs the scenarios at 60×
// over stdio against this binary's own `serve`.
type Options struct {
	// TimeScale shrinks every gap, fault window and timeout; the fakes and
	// the server (--time-scale) run on the same scale. 0 means 60.
	TimeScale float64
	// Transport is stdio (default) or http; a scenario may force one.
	Transport string
	// Protocol is the MCP version the host speaks (CheckProtocol):
	// ProtocolLegacy when empty.
	Protocol string
	// ServerCmd drives another MCP server over stdio instead of
	// `<this binary> serve`. It gets the fakes' URLs in the environment
	// (OPENAI_BASE_URL, VICTORIA_LOGS_URL) but none of serve's flags.
	ServerCmd []string
	// Executable is the binary whose `serve` is started; default
	// os.Executable().
	Executable string
	// Seed makes generated trees and session ids reproducible.
	Seed int64
	// TempDir is where temp dirs go; default os.TempDir().
	TempDir string
	// StartTimeout bounds the server's start and the MCP handshake (real
	// time); 0 means 30 s.
	StartTimeout time.Duration
	// Observers returns extra watchers of one scenario (profiles,
	// verdicts…); nil means none.
	Observers func(*Scenario) []Observer
	// Heartbeat configures the probes' heartbeat that watches every
	// scenario; NoHeartbeat turns it off.
	Heartbeat   probes.HeartbeatOptions
	NoHeartbeat bool
	// Calibration is the machine's wake-up lateness, measured before the
	// first scenario (wake.Calibrate); an invalid run quotes it to say
	// whether the machine or the run made the prober late. nil: not
	// measured.
	Calibration *wake.Calibration
	// Fakes starts the fake API and log sink for one scenario; nil means
	// the in-process fakes of scenarios/fakeai and scenarios/fakesink.
	Fakes func(ctx context.Context, clk clock.Clock, sc *Scenario) (Fakes, error)

	// NoVerdicts turns off the probes' checks (thresholds, leaks, log
	// accounting, cancellation, validity) and the diagnosis; the
	// heartbeat still runs unless NoHeartbeat.
	NoVerdicts bool
	// BaselineHold idles the server this long (real time) in the baseline
	// phase before the first step, so every scenario's baseline has enough
	// heartbeat samples behind its p99 (at 5 ms pings, 5.5 s gives 1,100).
	// 0 means no hold.
	BaselineHold time.Duration
	// OutDir is where a failing scenario's raw profiles are saved
	// (OutDir/profiles/<scenario>/); the diagnosis lists them relative to
	// it. "" saves nothing.
	OutDir string
	// DumpEvery and MaxDumps pace the goroutine dumps taken while a step
	// runs; 0 means DefaultDumpEvery and DefaultMaxDumps.
	DumpEvery time.Duration
	MaxDumps  int
	// ServerArgs are appended to serve's flags for every scenario (e.g.
	// a canary: --canary held-semaphore).
	ServerArgs []string
	// Canary is recorded in each scenario's result (replay --canaries).
	Canary string
}

// Observer watches one scenario while it runs. Start is called once the
// server answers; SetPhase at every phase step; Stop after the last step,
// before the server stops, to add its checks and figures to res.
type Observer interface {
	Start(ctx context.Context, t *Target) error
	SetPhase(name string)
	Stop(ctx context.Context, res *reports.Scenario) error
}

// Target is what an [Observer] can reach.
type Target struct {
	Scenario  *Scenario
	Transport string
	// Session is the scenario's own MCP connection (over stdio the only
	// one there can be).
	Session *Session
	// Dial opens another connection (HTTP only; nil over stdio).
	Dial func(ctx context.Context) (*Session, error)
	// DebugURL is the server's debug listener ("http://127.0.0.1:port"),
	// empty if the server did not report one.
	DebugURL string
	// ServerPID is the server process's id (0 if unknown).
	ServerPID int
	Clock     *clock.Scaled
	Fakes     Fakes
	// Elapsed is the wall time since the scenario started.
	Elapsed func() time.Duration
}

// Fakes is the fake API and sink of one scenario.
type Fakes interface {
	// APIURL is the fake OpenAI API's base URL, without /v1.
	APIURL() string
	// SinkURL is the fake VictoriaLogs' base URL.
	SinkURL() string
	SetAPIFaults(*APIFaults) error
	SetSinkFaults(*SinkFaults) error
	APIStats() map[string]int64
	SinkStats() map[string]int64
	// Upstream is the fake API's time on the requests of one traced call
	// (by the trace id of its traceparent): how many, and the union of
	// their intervals.
	Upstream(traceID string) (requests int, busy time.Duration)
	// UpstreamActivity says whether a request of the traced call is being
	// served now, and until when the last one kept the call busy (zero if
	// none has ended): a call with neither is not waiting on the provider.
	UpstreamActivity(traceID string) (inFlight bool, busyUntil time.Time)
	// Close stops both and waits for their goroutines.
	Close() error
}

// EventKind says what an [Event] reports.
type EventKind int

// Event kinds.
const (
	ScenarioStarted EventKind = iota
	StepStarted
	StepFinished
	ScenarioFinished
)

// Event reports progress of a run. Step is set for step events, Result for
// ScenarioFinished.
type Event struct {
	Kind     EventKind
	Scenario *Scenario
	Index    int // of the scenario in the run
	Total    int
	Step     *reports.Step
	// Expected is the scenario's scaled nominal length.
	Expected time.Duration
	Elapsed  time.Duration
	Result   *reports.Scenario
}

// Runner replays scenarios. Create it with [NewRunner]; one Runner runs once.
type Runner struct {
	opts     Options
	ctx      context.Context
	cancel   context.CancelFunc
	stopOnce sync.Once
}

// NewRunner returns a runner with opts' defaults filled in.
func NewRunner(opts Options) *Runner {
	if opts.TimeScale <= 0 {
		opts.TimeScale = DefaultTimeScale
	}
	if opts.Transport == "" {
		opts.Transport = DefaultTransport
	}
	if opts.Protocol == "" {
		opts.Protocol = ProtocolLegacy
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if opts.Fakes == nil {
		opts.Fakes = startFakes
	}
	if opts.DumpEvery <= 0 {
		opts.DumpEvery = DefaultDumpEvery
	}
	if opts.MaxDumps <= 0 {
		opts.MaxDumps = DefaultMaxDumps
	}
	return &Runner{opts: opts}
}

// Run replays scenarios in order and returns a channel of events that is
// closed once every process, goroutine and temp dir the run started is gone.
// Cancelling ctx or calling Stop ends the run early; the scenario in flight
// is then reported with an error.
func (r *Runner) Run(ctx context.Context, scs []*Scenario) <-chan Event {
	r.ctx, r.cancel = context.WithCancel(ctx)
	events := make(chan Event, 16)
	go func() {
		defer close(events)
		defer r.cancel()
		sweepTemp(r.opts.TempDir)
		for i, sc := range scs {
			if r.ctx.Err() != nil {
				return
			}
			res := r.runScenario(r.ctx, sc, i, len(scs), events)
			events <- Event{Kind: ScenarioFinished, Scenario: sc, Index: i, Total: len(scs), Result: res,
				Elapsed: time.Duration(res.DurationMS * float64(time.Millisecond))}
		}
	}()
	return events
}

// Stop ends the run; it reports whether this call did the stopping.
func (r *Runner) Stop() bool {
	did := false
	r.stopOnce.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		did = true
	})
	return did
}

// scaled is the wall-clock length of d.
func (r *Runner) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / r.opts.TimeScale)
}

// run is the state of one scenario being replayed.
type run struct {
	r       *Runner
	sc      *Scenario
	clk     *clock.Scaled
	start   time.Time
	project string
	fakes   Fakes
	sess    *Session
	// transport is the scenario's; over HTTP, mcpURL and dial reach the
	// server for a load's connections and sessions.
	transport string
	mcpURL    string
	dial      func(context.Context) (*Session, error)
	obs       []Observer
	events    chan<- Event
	idx       int
	total     int
	res       *reports.Scenario

	phase    string
	nextStep int // next step index

	bgMu sync.Mutex
	bg   []*bgCall

	faultWin map[string]int // side → index in res.Faults of the open window
	timers   sync.WaitGroup // fault "for" windows
}

type bgCall struct {
	cancel   context.CancelFunc
	done     chan struct{}
	step     *reports.Step
	returned time.Time
}

func (r *Runner) runScenario(ctx context.Context, sc *Scenario, idx, total int, events chan<- Event) *reports.Scenario {
	start := time.Now()
	res := &reports.Scenario{
		Name: sc.Name, Description: sc.Summary(), Source: sc.Source.Seed + ": " + strings.TrimSpace(sc.Source.Quote),
		Canary: r.opts.Canary, Repeats: 1, StartedAt: start, Steps: []reports.Step{}, Checks: []reports.Check{},
	}
	ru := &run{r: r, sc: sc, clk: clock.NewScaled(r.opts.TimeScale), start: start, events: events,
		idx: idx, total: total, res: res, phase: "baseline", faultWin: map[string]int{}}
	events <- Event{Kind: ScenarioStarted, Scenario: sc, Index: idx, Total: total, Expected: r.scaled(sc.RealLength())}
	if err := ru.play(ctx); err != nil {
		res.Error = err.Error()
	}
	res.DurationMS = reports.Millis(time.Since(start))
	judgeLoadValidity(res)
	// A run the harness could not judge (it fell behind) is invalid, not
	// passed: its numbers say nothing about the server. The watcher sets
	// Invalid only when no failure stands beyond the harness's lateness.
	res.Verdict = reports.ScenarioVerdict(res)
	return res
}

// play sets everything up, runs the steps and tears everything down, in
// reverse order, on every path.
func (ru *run) play(ctx context.Context) (err error) {
	r, sc := ru.r, ru.sc
	tmp, err := os.MkdirTemp(r.opts.TempDir, fmt.Sprintf("%s%d-", TempPrefix, os.Getpid()))
	if err != nil {
		return fmt.Errorf("cannot create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("cannot remove temp dir %q: %w", tmp, rmErr)
		}
	}()
	if err := ru.makeProject(tmp); err != nil {
		return err
	}
	defer func() {
		if ru.fakes == nil {
			return
		}
		if cErr := ru.fakes.Close(); cErr != nil && err == nil {
			err = fmt.Errorf("cannot stop fakes: %w", cErr)
		}
	}()
	if err := ru.startFakes(ctx); err != nil {
		return err
	}
	transportName := r.opts.Transport
	if sc.Transport != "" {
		transportName = sc.Transport
	}
	if len(r.opts.ServerCmd) > 0 {
		transportName = "stdio"
	}
	srv, err := ru.startServer(ctx, tmp, transportName)
	if err != nil {
		return err
	}
	defer func() {
		stErr := srv.proc.stop()
		switch {
		case stErr == nil:
		case srv.proc.Wedged():
			// A server that stopped reading stdin is stuck by what the
			// scenario caught; that it also ignored SIGTERM is part of
			// the same finding, not a broken harness.
			ru.res.Notes = append(ru.res.Notes, "server (wedged) had to be killed: "+stErr.Error())
		case err == nil:
			err = stErr
		}
	}()
	tgt, err := ru.connect(ctx, srv, transportName)
	if err != nil {
		return err
	}
	defer func() { _ = ru.sess.Close() }()
	if err := ru.startObservers(ctx, tgt); err != nil {
		return err
	}
	ru.setPhase("baseline")
	if r.opts.BaselineHold > 0 {
		rs := ru.begin(KindGap, fmt.Sprintf("baseline hold %v (heartbeat baseline)", r.opts.BaselineHold))
		err := clock.Sleep(ctx, clock.Real{}, r.opts.BaselineHold)
		ru.finish(rs, OutcomeOK, "", err == nil)
	}

	stepErr := ru.steps(ctx, sc.Steps, "")
	ru.joinBackground(ctx, r.opts.StartTimeout)
	ru.timers.Wait()
	ru.closeFaultWindows()
	ru.stopObservers()
	if stepErr != nil {
		return stepErr
	}
	if srv.proc.Exited() && !srv.proc.Wedged() {
		return fmt.Errorf("server exited during the scenario (stderr: %s)", lastLines(srv.proc.LastWords(time.Second), 5))
	}
	return ctx.Err()
}

// makeProject sets the project the calls send: the scenario's directory,
// or a tree generated under tmp from the run's seed.
func (ru *run) makeProject(tmp string) error {
	sc := ru.sc
	if sc.Project.Path != "" {
		p, err := filepath.Abs(sc.Project.Path)
		if err != nil {
			return fmt.Errorf("cannot resolve project path %q: %w", sc.Project.Path, err)
		}
		ru.project = p
		return nil
	}
	ru.project = filepath.Join(tmp, "project")
	if err := os.Mkdir(ru.project, 0o755); err != nil {
		return fmt.Errorf("cannot create project dir: %w", err)
	}
	if _, err := GenerateTree(ru.project, sc.Project, ru.r.opts.Seed); err != nil {
		return fmt.Errorf("cannot generate project tree: %w", err)
	}
	return nil
}

// startFakes starts the fake API and sink with the scenario's initial
// faults; the caller closes ru.fakes once set, even on an error.
func (ru *run) startFakes(ctx context.Context) error {
	sc := ru.sc
	fakes, err := ru.r.opts.Fakes(ctx, ru.clk, sc)
	if err != nil {
		return fmt.Errorf("cannot start fakes: %w", err)
	}
	ru.fakes = fakes
	if err := fakes.SetAPIFaults(sc.Faults.API); err != nil {
		return fmt.Errorf("cannot set initial api faults: %w", err)
	}
	if err := fakes.SetSinkFaults(sc.Faults.Sink); err != nil {
		return fmt.Errorf("cannot set initial sink faults: %w", err)
	}
	ru.faultWindow("api", sc.Faults.API != nil)
	ru.faultWindow("sink", sc.Faults.Sink != nil)
	if sc.Faults.API != nil && sc.Faults.API.PrefillStores > 0 {
		return prefillStores(ctx, fakes.APIURL(), sc.Faults.API.PrefillStores)
	}
	return nil
}

// connect opens the host's session to the started server (a stdio
// session through the heartbeat's pipe pinger, or HTTP with a dial for
// more sessions) and describes the target for the observers.
func (ru *run) connect(ctx context.Context, srv *serverProc, transportName string) (*Target, error) {
	startCtx, cancel := context.WithTimeout(ctx, ru.r.opts.StartTimeout)
	defer cancel()
	var dial func(context.Context) (*Session, error)
	var err error
	if transportName == "http" {
		url := srv.mcpURL
		dial = func(ctx context.Context) (*Session, error) {
			tr, err := transport.NewStreamableHTTP(url)
			if err != nil {
				return nil, fmt.Errorf("cannot create HTTP transport for %q: %w", url, err)
			}
			return newSession(ctx, tr, ru.r.opts.Protocol)
		}
		ru.sess, err = dialRetry(startCtx, dial, srv.proc)
		ru.mcpURL, ru.dial = url, dial
	} else {
		out, in := srv.proc.stdio()
		pp := newPipePinger(in, ru.r.opts.Protocol)
		ru.sess, err = newSession(startCtx, transport.NewIO(pp.reader(out), pp.writer(), nil), ru.r.opts.Protocol)
		if err == nil {
			ru.sess.unwedge = srv.proc.closeWedgedStdin
			ru.sess.pinger = pp
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w (server stderr: %s)", err, lastLines(srv.proc.LastWords(time.Second), 5))
	}
	ru.transport = transportName
	debugURL := readDebugAddr(startCtx, srv.debugFile, srv.proc)
	return &Target{Scenario: ru.sc, Transport: transportName, Session: ru.sess, Dial: dial, DebugURL: debugURL,
		ServerPID: srv.proc.pid(), Clock: ru.clk, Fakes: ru.fakes, Elapsed: func() time.Duration { return time.Since(ru.start) }}, nil
}

// startObservers starts the watch (heartbeat, profiles, verdicts) and the
// caller's observers; on an error the ones started are stopped.
func (ru *run) startObservers(ctx context.Context, tgt *Target) error {
	r := ru.r
	if !r.opts.NoHeartbeat {
		th, err := ScenarioThresholds(ru.sc)
		if err != nil {
			return err
		}
		ru.obs = append(ru.obs, newWatch(r.opts, th, !r.opts.NoVerdicts))
	}
	if r.opts.Observers != nil {
		ru.obs = append(ru.obs, r.opts.Observers(ru.sc)...)
	}
	for i, o := range ru.obs {
		if err := o.Start(ctx, tgt); err != nil {
			ru.obs = ru.obs[:i]
			ru.stopObservers()
			return fmt.Errorf("cannot start observer: %w", err)
		}
	}
	return nil
}

func (ru *run) stopObservers() {
	// Observers get a fresh bounded context: the run's may be cancelled,
	// and their figures are still worth having.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(ru.obs) - 1; i >= 0; i-- {
		if err := ru.obs[i].Stop(ctx, ru.res); err != nil && ru.res.Error == "" {
			ru.res.Error = fmt.Sprintf("observer: %v", err)
		}
	}
	ru.obs = nil
}

func (ru *run) setPhase(name string) {
	ru.phase = name
	for _, o := range ru.obs {
		o.SetPhase(name)
	}
}

// server is a started server under test.
type serverProc struct {
	proc      *process
	mcpURL    string // http only
	debugFile string
}

func (ru *run) startServer(ctx context.Context, tmp, transportName string) (*serverProc, error) {
	r, sc := ru.r, ru.sc
	s := &serverProc{debugFile: filepath.Join(tmp, "debug-addr")}
	apiBase := ru.fakes.APIURL() + "/v1"
	env := append(os.Environ(),
		"OPENAI_API_KEY=sk-fake-replay", "XAI_API_KEY=xai-fake-replay", "GEMINI_API_KEY=gemini-fake-replay",
		"OPENAI_BASE_URL="+apiBase, "VICTORIA_LOGS_URL="+ru.fakes.SinkURL())
	for k, v := range sc.Server.Env {
		env = append(env, k+"="+v)
	}
	var argv []string
	if len(r.opts.ServerCmd) > 0 {
		argv = append(argv, r.opts.ServerCmd...)
	} else {
		exe := r.opts.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("cannot find this binary to run serve: %w", err)
			}
		}
		argv = []string{exe, "serve",
			"--base-url", apiBase,
			"--db", filepath.Join(tmp, "secondbrain.db"),
			"--roots", ru.project,
			"--debug-addr", "127.0.0.1:0", "--debug-addr-file", s.debugFile,
			"--time-scale", strconv.FormatFloat(r.opts.TimeScale, 'g', -1, 64),
			// The scenario's clock, the fakes' and every server it starts
			// (a restart too) then tell one time.
			"--time-origin", ru.clk.Origin().UTC().Format(time.RFC3339Nano),
		}
		if u := ru.fakes.SinkURL(); u != "" {
			argv = append(argv, "--victorialogs-url", u)
		}
		if sc.Server.LogLevel != "" {
			argv = append(argv, "--log-level", sc.Server.LogLevel)
		}
		if sc.Server.LogShipping != "" {
			argv = append(argv, "--log-shipping", sc.Server.LogShipping)
		}
		if transportName == "http" {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			argv = append(argv, "--http", addr)
			s.mcpURL = "http://" + addr + "/mcp"
		}
		argv = append(argv, sc.Server.Args...)
		argv = append(argv, r.opts.ServerArgs...)
	}
	// Goroutine dumps (debug=2) then carry the server's pprof labels
	// (path=request|background), so the diagnosis needs no guessing.
	env = withGODEBUG(env, "tracebacklabels=1")
	proc, err := startProcess(argv, env, ru.project, sc.Stderr)
	if err != nil {
		return nil, err
	}
	proc.termFirst = transportName == "http"
	s.proc = proc
	return s, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the server binds; the dial retry then reports the server's
// own error.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// dialRetry connects over HTTP, retrying while the server starts.
func dialRetry(ctx context.Context, dial func(context.Context) (*Session, error), proc *process) (*Session, error) {
	for {
		s, err := dial(ctx)
		if err == nil {
			return s, nil
		}
		if proc.Exited() {
			return nil, fmt.Errorf("server exited before answering: %w", err)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("server did not answer over HTTP: %w", err)
		case <-t.C:
		}
	}
}

// readDebugAddr waits briefly for the server to write its debug address.
// A server without a debug listener (--server-cmd) is fine: "" is returned.
func readDebugAddr(ctx context.Context, file string, proc *process) string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if b, err := os.ReadFile(file); err == nil {
			if addr := strings.TrimSpace(string(b)); addr != "" {
				if !strings.HasPrefix(addr, "http") {
					addr = "http://" + addr
				}
				return addr
			}
		}
		if time.Now().After(deadline) || proc.Exited() || ctx.Err() != nil {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if out == "" {
		return "(empty)"
	}
	return out
}

// sweepTemp removes temp dirs left by runs whose process is gone (a replay
// killed with SIGKILL cannot clean up after itself).
func sweepTemp(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, TempPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, TempPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(dir, name))
	}
}

// withGODEBUG adds setting to the GODEBUG of env (keeping any already set).
func withGODEBUG(env []string, setting string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if v != "" {
				v += ","
			}
			env[i] = "GODEBUG=" + v + setting
			return env
		}
	}
	return append(env, "GODEBUG="+setting)
}
