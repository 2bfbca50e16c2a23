package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/probes/wake"
	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/scenarios"
	"github.com/secondbrain-dev/secondbrain/scenarios/catalog"
	"github.com/secondbrain-dev/secondbrain/server/faults"
)

// replayOpts are the flags of `secondbrain replay`.
type replayOpts struct {
	all       bool
	timeScale float64
	out       string
	json      bool
	seed      int64
	transport string
	protocol  string
	serverCmd string
	canaries  bool
	// heartbeat and noop are the prober's intervals; baselineHold idles
	// the server in the baseline phase first (-1: enough for minSamples
	// pings).
	heartbeat    time.Duration
	noop         time.Duration
	baselineHold time.Duration
	dumpEvery    time.Duration
	breach       time.Duration
	// retryInvalid is how many more times a scenario whose run was
	// invalid (the harness fell behind) is replayed before the result
	// stands.
	retryInvalid int
	// maxInvalid is how many scenarios may stay invalid after their
	// retries, with nothing failed, for the run to exit 0.
	maxInvalid int
}

// Heartbeat defaults of replay. Pings every 5 ms give every scenario's
// baseline the 1,000 samples a p99 needs in a 5.5 s hold, so the whole
// catalog stays within CI's 3 minutes at 60×; the no-op tool call (a real
// tool dispatch, logged like any call) every 20 ms.
const (
	defaultPingInterval = 5 * time.Millisecond
	defaultNoopInterval = 20 * time.Millisecond
	minBaselineSamples  = 1000
)

// baselineHoldFor is how long the baseline must last for minBaselineSamples
// pings at interval, with 10 % to spare for the probes still in flight.
func baselineHoldFor(interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	return time.Duration(float64(minBaselineSamples) * 1.1 * float64(interval))
}

func newReplayCmd() *cobra.Command {
	var o replayOpts
	o.baselineHold = -1 // auto
	cmd := &cobra.Command{
		Use:   "replay [names or files…] | --canaries [canaries…]",
		Short: "Replay incident scenarios against the server",
		Long: `Replay scenarios of the incident catalog (all of them with no argument or --all),
or scenario files given by path, against the server: the fake OpenAI API and the fake
log sink run in-process, the server runs as a subprocess (this binary's serve, or
--server-cmd), and each call's latency and outcome is recorded.

Every scenario is watched by an open-loop heartbeat (ping every
--heartbeat-interval, a no-op tool call every --noop-interval), the server's
profiles and runtime numbers; the verdict is every step's expectation AND
every check of the scenario's thresholds. A failing scenario gets a
diagnosis: the frame request-path goroutines waited in, and a cause label.

--canaries runs each canary's scenario with the canary injected into the
server and passes only if every canary fails its scenario and is named
with the right cause and culprit; it prints the confusion table.

Exit status, a failure always winning: 1 a verdict failed (with --canaries:
a canary missed), whatever else was invalid; else 2 bad usage, or the
harness (or the server) could not run a scenario; else 3 a scenario is
invalid (the harness fell behind: prober send lag, dropped ticks, too few
samples, a noisy baseline, a shared machine) — 0 instead when at most
--max-invalid were; else 0 (every scenario passed; with --canaries, every
canary caught and named). go run reports every non-zero status as 1: build
the binary to see which.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all && len(args) > 0 {
				return &exitError{code: exitUsage, err: errors.New("give scenario names or --all, not both")}
			}
			if o.canaries && (o.all || o.serverCmd != "") {
				return &exitError{code: exitUsage, err: errors.New("--canaries runs its own scenarios: give canary names or none, not --all or --server-cmd")}
			}
			if err := scenarios.CheckProtocol(o.protocol); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--protocol: %w", err)}
			}
			if o.baselineHold < 0 {
				o.baselineHold = baselineHoldFor(o.heartbeat)
			}
			defer withProberProcs()()
			if o.canaries {
				return replayCanaries(cmd.Context(), o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return replay(cmd.Context(), o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.all, "all", false, "replay the whole catalog (the default with no names)")
	f.Float64Var(&o.timeScale, "time-scale", scenarios.DefaultTimeScale, "run scenario time this many times faster (1 = real time)")
	f.StringVar(&o.out, "out", "out", "directory for result.json and the other reports (\"\" = none)")
	f.BoolVar(&o.json, "json", false, "print result.json to stdout (progress goes to stderr)")
	f.Int64Var(&o.seed, "seed", 1, "seed for generated project trees")
	f.StringVar(&o.transport, "transport", scenarios.DefaultTransport, "MCP transport: stdio or http")
	f.StringVar(&o.protocol, "protocol", scenarios.ProtocolLegacy, "MCP protocol version the host speaks: "+scenarios.ProtocolLegacy+" (initialize, ping) or "+scenarios.ProtocolStateless+" (stateless: the heartbeat probes with server/discover)")
	f.StringVar(&o.serverCmd, "server-cmd", "", "drive this MCP server command over stdio instead of this binary's serve (split on spaces), e.g. \"node server.js\"")
	f.BoolVar(&o.canaries, "canaries", false, "inject each canary into the server and check the harness catches and names it")
	f.DurationVar(&o.heartbeat, "heartbeat-interval", defaultPingInterval, "heartbeat ping interval (real time; <0 disables pings)")
	f.DurationVar(&o.noop, "noop-interval", defaultNoopInterval, "heartbeat no-op tool call interval (real time; <0 disables them)")
	f.DurationVar(&o.dumpEvery, "dump-every", scenarios.DefaultDumpEvery, "take a server goroutine dump this often while a step runs (evidence for waits and the diagnosis)")
	f.DurationVar(&o.breach, "breach-threshold", probes.DefaultBreachThreshold, "a probe outstanding this long is a breach: fetch goroutine dumps and the flight-recorder trace at once")
	f.IntVar(&o.retryInvalid, "retry-invalid", 2, "replay a scenario whose run was invalid (the harness fell behind, nothing judged) up to this many more times; failures are never retried")
	f.IntVar(&o.maxInvalid, "max-invalid", 0, "exit 0 when nothing failed and at most this many scenarios stayed invalid after their retries (they are still listed as invalid)")
	f.Var((*autoDuration)(&o.baselineHold), "baseline-hold", "idle the server this long in the baseline phase before the first step; auto: 1,100 ping intervals")
	return cmd
}

func replay(ctx context.Context, o replayOpts, args []string, stdout, stderr io.Writer) error {
	if o.timeScale <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--time-scale must be > 0, got %v", o.timeScale)}
	}

	if o.transport != "stdio" && o.transport != "http" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--transport must be stdio or http, got %q", o.transport)}
	}
	scs, err := loadScenarios(args)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return replayScenarios(ctx, o, scs, stdout, stderr)
}

// replayScenarios calibrates the prober, replays scs and writes the
// reports: replay's and load's common path.
func replayScenarios(ctx context.Context, o replayOpts, scs []*scenarios.Scenario, stdout, stderr io.Writer) error {
	if o.timeScale <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--time-scale must be > 0, got %v", o.timeScale)}
	}
	if o.transport != "stdio" && o.transport != "http" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--transport must be stdio or http, got %q", o.transport)}
	}
	result := newResult(o)
	progress := stderr
	if !o.json {
		progress = stdout
	}
	opts := o.runnerOptions()
	if err := calibrate(ctx, &opts, result, progress); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	p := newProgress(progress)
	runScenarios(ctx, opts, scs, p, result, o.retryInvalid)
	p.done()
	return finishReplay(ctx, o, result, progress, stdout)
}

// calibrate measures how late this machine wakes the prober, before the
// first scenario and with nothing else of the harness running, records it
// in the result and hands it to the runner (invalid runs quote it).
// The harness should already run with spare Ps (withProberProcs).
func calibrate(ctx context.Context, opts *scenarios.Options, result *reports.Result, progress io.Writer) error {
	clock := wake.New()
	cal, err := wake.Calibrate(ctx, calibrateOptions(clock, opts.Heartbeat))
	if err != nil {
		return fmt.Errorf("cannot calibrate the prober's clock: %w", err)
	}
	opts.Calibration = &cal
	opts.Heartbeat.Clock = clock
	result.Run.Calibration = probes.ReportCalibration(cal)
	fmt.Fprintf(progress, "calibration (every %v): prober clock %v; to the probe %v; Go timers %v\n",
		cal.Interval, cal.Kernel, cal.Handoff, cal.GoTimer)
	if bound := probes.DefaultThresholds().SendLagP99Max; cal.Kernel.P99 > bound/4 {
		fmt.Fprintf(progress, "warning: this machine wakes a sleeping thread late (p99 %v; the prober may lag %v): "+
			"scenarios may be invalid; a quieter machine judges them\n", cal.Kernel.P99.Round(time.Microsecond), bound)
	}
	return nil
}

// calibrateOptions measures clock on the schedule the heartbeat will
// keep (a clock that sleeps longer wakes later), long enough for a p99 of
// calibrationSamples wake-ups.
func calibrateOptions(clock wake.Clock, hb probes.HeartbeatOptions) wake.CalibrateOptions {
	spacing := hb.WakeSpacing()
	if spacing <= 0 {
		spacing = wake.DefaultCalibrateInterval
	}
	return wake.CalibrateOptions{
		Precise:  clock,
		Interval: spacing,
		For:      max(wake.DefaultCalibrateFor, calibrationSamples*spacing),
	}
}

// calibrationSamples makes a calibration's p99 the 2nd-latest wake-up,
// not its maximum.
const calibrationSamples = 200

// withProberProcs raises GOMAXPROCS to proberProcs and the harness's
// GOGC to proberGCPercent for the replay, and returns the function that
// puts both back.
func withProberProcs() (restore func()) {
	prevGC := debug.SetGCPercent(proberGCPercent)
	prev := runtime.GOMAXPROCS(0)
	if n := proberProcs(runtime.NumCPU()); n > prev {
		runtime.GOMAXPROCS(n)
		return func() { runtime.GOMAXPROCS(prev); debug.SetGCPercent(prevGC) }
	}
	return func() { debug.SetGCPercent(prevGC) }
}

// proberGCPercent is the harness's GOGC during a replay. Each GC cycle of
// the harness delays the prober's clock: on a 2-vCPU VM, a SCHED_FIFO
// clock on a 2.5 ms schedule in a process whose other goroutines allocate
// woke p99 28–49 ms late at GOGC 100 and 400 (a cycle every few
// milliseconds on a small heap), 0.15 ms at 800; idle, 0.09–0.13 ms. The
// harness's live heap is tens of MB, so 9× that is still small. The server
// under test is another process and keeps its own.
const proberGCPercent = 800

// proberProcs is how many Ps the harness runs with on ncpu CPUs. A thread
// coming back from a sleep needs a P before it runs any Go code; with
// GOMAXPROCS = CPUs, the harness's own work (the in-process fakes serving
// 90 uploads, profile parsing) often holds them all, and the prober's
// clock waited for one: wake-up p99 0.9–2.1 ms in back-to-back on a
// 2-vCPU VM, against 0.23–0.36 ms with 8 Ps. The server under test is
// another process and keeps its own setting.
func proberProcs(ncpu int) int { return max(8, 4*ncpu) }

// runnerOptions maps the flags onto the runner's options.
func (o replayOpts) runnerOptions() scenarios.Options {
	return scenarios.Options{
		TimeScale:    o.timeScale,
		Transport:    o.transport,
		Protocol:     o.protocol,
		ServerCmd:    strings.Fields(o.serverCmd),
		Seed:         o.seed,
		Heartbeat:    probes.HeartbeatOptions{Interval: o.heartbeat, NoopInterval: o.noop, BreachThreshold: o.breach},
		BaselineHold: o.baselineHold,
		OutDir:       o.out,
		DumpEvery:    o.dumpEvery,
	}
}

// runScenarios replays scs with one runner and appends their results. A
// scenario whose run was invalid — the harness itself fell behind, so
// nothing was judged — is replayed again, up to retries more times; its
// last result stands, with the invalid attempts before it in Attempts.
// Failed and passed scenarios are never replayed.
func runScenarios(ctx context.Context, opts scenarios.Options, scs []*scenarios.Scenario, p *progress, result *reports.Result, retries int) {
	first := len(result.Scenarios)
	for ev := range scenarios.NewRunner(opts).Run(ctx, scs) {
		p.event(ev)
		if ev.Kind == scenarios.ScenarioFinished {
			result.Scenarios = append(result.Scenarios, *ev.Result)
		}
	}
	byName := map[string]*scenarios.Scenario{}
	for _, sc := range scs {
		byName[sc.Name] = sc
	}
	for attempt := 2; attempt <= retries+1 && ctx.Err() == nil; attempt++ {
		var again []*scenarios.Scenario
		var names []string
		where := map[string]int{}
		for i := first; i < len(result.Scenarios); i++ {
			if r := result.Scenarios[i]; r.Verdict == reports.VerdictInvalid && byName[r.Name] != nil {
				again = append(again, byName[r.Name])
				names = append(names, r.Name)
				where[r.Name] = i
			}
		}
		if len(again) == 0 {
			return
		}
		p.header(fmt.Sprintf("attempt %d of %d: replaying %d invalid scenario(s): %s",
			attempt, retries+1, len(again), strings.Join(names, ", ")))
		for ev := range scenarios.NewRunner(opts).Run(ctx, again) {
			p.event(ev)
			if ev.Kind != scenarios.ScenarioFinished {
				continue
			}
			if i, ok := where[ev.Result.Name]; ok {
				result.Scenarios[i] = retried(result.Scenarios[i], *ev.Result, attempt)
			}
		}
	}
}

// retried is next, the result of attempt, with the invalid attempts before
// it (prev and prev's own) recorded.
func retried(prev, next reports.Scenario, attempt int) reports.Scenario {
	a := reports.Attempt{Verdict: prev.Verdict, Invalid: prev.Invalid, DurationMS: prev.DurationMS}
	if prev.Heartbeat != nil {
		a.SendLagP99MS = prev.Heartbeat.SendLagP99MS
	}
	next.Attempts = append(append([]reports.Attempt(nil), prev.Attempts...), a)
	next.Notes = append(append([]string(nil), prev.Notes...), next.Notes...)
	next.Notes = append(next.Notes, fmt.Sprintf("replayed (attempt %d): the previous attempt was invalid: %s", attempt, prev.Invalid))
	return next
}

// replayCanaries runs each canary's scenario with the canary injected and
// judges whether the harness caught it (verdict fail) and named it (cause
// and culprit).
func replayCanaries(ctx context.Context, o replayOpts, names []string, stdout, stderr io.Writer) error {
	all, err := catalog.Load()
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("cannot load the scenario catalog: %w", err)}
	}
	canaries := catalog.Canaries()
	if len(names) > 0 {
		canaries = nil
		for _, n := range names {
			runs := catalog.CanaryRuns(n)
			if len(runs) == 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("unknown canary %q; known: %s", n, strings.Join(faults.Names(), ", "))}
			}
			canaries = append(canaries, runs...)
		}
	}
	byName := map[string]*scenarios.Scenario{}
	for _, sc := range all {
		byName[sc.Name] = sc
	}
	result := newResult(o)
	result.Run.Canaries = true
	progress := stderr
	if !o.json {
		progress = stdout
	}
	base := o.runnerOptions()
	if err := calibrate(ctx, &base, result, progress); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	p := newProgress(progress)
	var judged []probes.CanaryResult
	for _, c := range canaries {
		if ctx.Err() != nil {
			break
		}
		sc, ok := byName[c.Scenario]
		if !ok {
			return &exitError{code: exitUsage, err: fmt.Errorf("canary %q runs scenario %q, which the catalog lacks", c.Name, c.Scenario)}
		}
		opts := base
		opts.ServerArgs, opts.Canary = c.Args, c.Name
		n := len(result.Scenarios)
		runScenarios(ctx, opts, []*scenarios.Scenario{sc}, p, result, o.retryInvalid)
		verdict, diag := "", (*reports.Diagnosis)(nil)
		if len(result.Scenarios) > n {
			got := result.Scenarios[n]
			verdict, diag = got.Verdict, got.Diagnosis
			if got.Error != "" {
				verdict = "error"
			}
		}
		cr := probes.JudgeCanary(c.Fault, verdict, diag)
		cr.Scenario = c.Scenario
		judged = append(judged, cr)
	}
	p.done()
	fmt.Fprintln(progress)
	if err := probes.WriteConfusion(progress, judged); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if err := finishReplay(ctx, o, result, progress, stdout); err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitFail {
			return err // interrupted, reports not written, a harness error
		}
	}
	var missed []string
	for _, j := range judged {
		if !j.Pass() {
			missed = append(missed, j.Canary)
		}
	}
	if len(missed) > 0 || len(judged) < len(canaries) {
		return &exitError{code: exitFail, err: fmt.Errorf("%d/%d canaries caught and named; missed: %s",
			len(judged)-len(missed), len(canaries), strings.Join(missed, ", "))}
	}
	return nil
}

func newResult(o replayOpts) *reports.Result {
	host, _ := os.Hostname()
	return &reports.Result{
		SchemaVersion: reports.SchemaVersion,
		Run: reports.RunInfo{
			ID: time.Now().UTC().Format("20060102T150405Z"), StartedAt: time.Now(), TimeScale: o.timeScale,
			Transport: o.transport, Protocol: o.protocol, Seed: o.seed, ServerCmd: strings.Fields(o.serverCmd),
			GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(),
			Hostname: host, Version: versionString(),
		},
		Scenarios: []reports.Scenario{},
	}
}

// finishReplay prints the table, writes the reports and maps the result
// onto the exit code.
func finishReplay(ctx context.Context, o replayOpts, result *reports.Result, progress, stdout io.Writer) error {
	result.Run.FinishedAt = time.Now()
	outcome := reports.Judge(result.Scenarios, o.maxInvalid)
	result.Run.Verdict = outcome.Verdict

	printTable(progress, result)
	var errs []error
	if o.out != "" {
		if err := reports.WriteAll(o.out, result); err != nil {
			errs = append(errs, fmt.Errorf("cannot write reports to %q: %w", o.out, err))
		} else {
			fmt.Fprintf(progress, "reports written to %s/\n", o.out)
		}
	}
	if o.json {
		if err := reports.NewJSONReporter(result).Report(stdout); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitUsage, err: errors.New("replay interrupted; everything it started was stopped")}
	case len(errs) > 0:
		return &exitError{code: exitUsage, err: errors.Join(errs...)}
	}
	if outcome.Tolerated {
		fmt.Fprintf(progress, "INVALID, tolerated (--max-invalid %d): %d scenario(s) could not be judged: %s\n",
			o.maxInvalid, len(outcome.Invalid), strings.Join(outcome.Invalid, ", "))
	}
	if err := outcome.Err(); err != nil {
		return &exitError{code: outcome.Exit, err: err}
	}
	return nil
}

// progress shows where a run is: one rewritten line on a terminal, plain
// lines (one per finished step and scenario) otherwise, for CI logs.
type progress struct {
	w     io.Writer
	tty   bool
	width int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, width: 100}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			p.width = cols - 1
		}
	}
	return p
}

func (p *progress) event(ev scenarios.Event) {
	head := fmt.Sprintf("[%d/%d] %s", ev.Index+1, ev.Total, ev.Scenario.Name)
	switch ev.Kind {
	case scenarios.ScenarioStarted:
		if !p.tty {
			fmt.Fprintf(p.w, "%s: start (~%v of gaps)\n", head, ev.Expected.Round(10*time.Millisecond))
		}
	case scenarios.StepStarted:
		if p.tty {
			p.line(fmt.Sprintf("%s  step %d %s %s  %v / ~%v", head, ev.Step.Index, ev.Step.Kind, ev.Step.Name,
				ev.Elapsed.Round(100*time.Millisecond), ev.Expected.Round(100*time.Millisecond)))
		}
	case scenarios.StepFinished:
		if !p.tty && ev.Step.Kind != scenarios.KindPhase {
			mark := "ok  "
			if !ev.Step.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(p.w, "%s  %s step %d %s %s: %s in %.0f ms%s\n", head, mark, ev.Step.Index, ev.Step.Kind,
				ev.Step.Name, ev.Step.Outcome, ev.Step.LatencyMS, errSuffix(ev.Step.Error))
		}
	case scenarios.ScenarioFinished:
		line := fmt.Sprintf("%s: %s in %v%s", head, strings.ToUpper(ev.Result.Verdict),
			ev.Elapsed.Round(10*time.Millisecond), errSuffix(ev.Result.Error))
		if p.tty {
			p.line("")
		}
		fmt.Fprintln(p.w, line)
	}
}

// header prints a line that starts a new part of the run (a retry round).
func (p *progress) header(s string) {
	if p.tty {
		p.line("")
	}
	fmt.Fprintf(p.w, "--- %s\n", s)
}

func (p *progress) line(s string) {
	if len(s) > p.width {
		s = s[:p.width]
	}
	fmt.Fprintf(p.w, "\r\033[K%s", s)
}

func (p *progress) done() {
	if p.tty {
		p.line("")
	}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return " — " + s
}

func printTable(w io.Writer, r *reports.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSCENARIO\tVERDICT\tSTEPS OK\tWALL\tPING p99\tPING max\tNOTE")
	for _, sc := range r.Scenarios {
		ok := 0
		for _, st := range sc.Steps {
			if st.Pass {
				ok++
			}
		}
		p99, mx := "-", "-"
		if sc.Heartbeat != nil && sc.Heartbeat.Ping != nil && sc.Heartbeat.Ping.Count > 0 {
			p99 = fmt.Sprintf("%.1f ms", sc.Heartbeat.Ping.P99)
			mx = fmt.Sprintf("%.1f ms", sc.Heartbeat.Ping.Max)
		}
		note := sc.Error
		if note == "" && sc.Invalid != "" {
			note = "invalid: " + sc.Invalid
		}
		if note == "" {
			for _, st := range sc.Steps {
				if !st.Pass {
					note = fmt.Sprintf("step %d %s %s: %s (want %s) %s", st.Index, st.Kind, st.Name, st.Outcome, st.Expected, st.Error)
					break
				}
			}
		}
		if note == "" {
			for _, c := range sc.Checks {
				if !c.Pass {
					note = fmt.Sprintf("check %s: %g %s %g", c.Name, c.Value, c.Op, c.Threshold)
					break
				}
			}
		}
		if d := sc.Diagnosis; d != nil && sc.Verdict != reports.VerdictPass {
			note += fmt.Sprintf(" [diagnosis: %s at %s]", d.Cause, d.Culprit)
		}
		if len(note) > 160 {
			note = note[:160] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%.1fs\t%s\t%s\t%s\n", sc.Name, sc.Verdict, ok, len(sc.Steps),
			sc.DurationMS/1000, p99, mx, note)
	}
	fmt.Fprintf(tw, "(run)\t%s\t\t%.1fs\t\t\t\n", r.Run.Verdict, r.Run.FinishedAt.Sub(r.Run.StartedAt).Seconds())
	_ = tw.Flush()
}

// autoDuration is a duration flag whose negative value means "auto", so
// that help shows "(default auto)" rather than a sentinel.
type autoDuration time.Duration

func (d *autoDuration) String() string {
	if *d < 0 {
		return "auto"
	}
	return time.Duration(*d).String()
}

func (d *autoDuration) Set(s string) error {
	if s == "auto" {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("must be auto or a duration ≥ 0, got %s", s)
	}
	*d = autoDuration(v)
	return nil
}

func (d *autoDuration) Type() string { return "duration" }
