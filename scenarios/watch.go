package scenarios

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

// Defaults of the watcher's step collection.
const (
	// DefaultDumpEvery is how often a goroutine dump is taken while a step
	// runs. Two dumps that show the same request goroutine in the same
	// stack prove it waited at least their distance apart, so this must
	// stay below the 100 ms "waiting in log shipping" bound to catch such
	// waits in steps that last a few hundred ms.
	DefaultDumpEvery = 80 * time.Millisecond
	// DefaultMaxDumps bounds the dumps of one step (besides the one at
	// its end and those at a breach): a long step keeps its first ones.
	DefaultMaxDumps = 40
	// breachGap is the distance of the two goroutine dumps taken at a
	// heartbeat breach (see probes.Step.OnBreach).
	breachGap = 60 * time.Millisecond
	// debugFetchTimeout bounds one request to the debug listener. A
	// server wedged by a canary can wedge its debug endpoints too (a
	// handler that logs, counters behind a stuck log sink's lock): after
	// the first timeout the watcher stops asking (see watch.sick), so a
	// stuck server costs the run seconds, not minutes.
	debugFetchTimeout = 3 * time.Second
)

// StepObserver is an [Observer] that also watches each step that does
// work: a call, concurrent calls, a cancel, a wait, or a gap while calls
// are in flight. The runner calls BeginStep before the step and EndStep
// after it, from its own goroutine, never overlapping.
type StepObserver interface {
	Observer
	BeginStep(ctx context.Context, name string)
	EndStep(ctx context.Context)
}

// watch is the runner's built-in observer of every scenario: the probes'
// open-loop heartbeat (over stdio interleaved on the scenario's own pipe,
// as a host's pings would be; over HTTP on a connection of its own), the
// runtime sampler, per-step profiles, and at the end the verdict checks,
// the run's validity and, when something failed, the diagnosis.
//
// Goroutines: the heartbeat's and the sampler's (owned by them, stopped in
// Stop) and, while a step runs, one dump goroutine (stopped by EndStep).
type watch struct {
	opts   Options
	th     probes.Thresholds
	judge  bool
	tgt    *Target
	hb     *probes.Heartbeat
	own    *Session // the heartbeat's own connection (HTTP), closed at Stop
	dc     *probes.DebugClient
	rt     *runtimeSource
	sm     *probes.Sampler
	base   probes.RuntimeStats
	baseOK bool
	// baseTried: the baseline is read once, at the first watched step.
	baseTried bool
	idleBas   int // the server's idle keep-alive connections at the baseline
	// baseG are the server's goroutines at the baseline, for the leak
	// check by identity; nil when the dump could not be read.
	baseG []probes.Goroutine
	// src reads the server's source for the diagnosis (a select's cases),
	// cached for the run.
	src *probes.Sources
	// leaked are the goroutine kinds the leak check found in surplus.
	leaked []probes.LeakedGoroutine
	// baseFDs are the server's descriptors by target at the baseline.
	baseFDs map[string]int

	// sick is set once a debug fetch timed out: later profile fetches
	// are skipped (and the scenario notes it).
	sick atomic.Bool

	// cpuStart is the machine's CPU reading when the heartbeat started
	// (cpuOK: it could be read), for the foreign load.
	cpuStart probes.CPUReading
	cpuOK    bool

	mu       sync.Mutex
	cur      *stepWatch
	steps    []*stepWatch
	notes    []string
	calls    map[uint64]probes.CallInfo // merged /debug/calls, by seq
	lastCall probes.Calls
	stalls   []callStall     // calls that made no progress (CallStarted)
	ended    map[string]bool // trace ids of the calls that have returned
}

// stepWatch is one watched step.
type stepWatch struct {
	name       string
	start, end time.Duration // since the scenario's start
	ps         *probes.Step
	breached   bool
	stop       chan struct{}
	done       chan struct{}
}

// newWatch returns the watcher of one scenario; th are its thresholds
// (defaults with the file's block decoded over them). With judge false it
// only runs the heartbeat (Options.NoVerdicts).
func newWatch(opts Options, th probes.Thresholds, judge bool) *watch {
	return &watch{opts: opts, th: th, judge: judge, calls: map[uint64]probes.CallInfo{}, ended: map[string]bool{},
		src: probes.NewSources()}
}

// ScenarioThresholds returns the default thresholds with the scenario
// file's `thresholds:` block decoded over them; errors name file, line
// and key.
func ScenarioThresholds(sc *Scenario) (probes.Thresholds, error) {
	th := probes.DefaultThresholds()
	if err := sc.DecodeThresholds(&th); err != nil {
		return th, err
	}
	return th, nil
}

func (w *watch) note(format string, args ...any) {
	w.mu.Lock()
	w.notes = append(w.notes, fmt.Sprintf(format, args...))
	w.mu.Unlock()
}

func (w *watch) Start(ctx context.Context, t *Target) error {
	w.tgt = t
	if w.judge && t.DebugURL != "" {
		w.dc = probes.NewDebugClient(t.DebugURL, nil)
		w.dc.SetFetchTimeout(debugFetchTimeout)
		w.rt = newRuntimeSource(w.dc, t.ServerPID)
		// Profiling rates must be set before the waits happen; the flight
		// recorder must run before a breach to have a window to hand over.
		if err := w.dc.SetProfiling(ctx, 1, 1); err != nil {
			w.note("block/mutex profiles not collected: %v", err)
		}
		if err := w.dc.StartFlightRecorder(ctx); err != nil {
			w.note("flight recorder not started: %v", err)
		}
	} else if w.judge {
		w.note("no debug listener: no profiles, leak, log or cancel checks, no diagnosis")
	}
	target := t.Session
	if t.Dial != nil {
		s, err := t.Dial(ctx)
		if err != nil {
			return fmt.Errorf("cannot open the heartbeat's connection: %w", err)
		}
		w.own, target = s, s
	}
	if w.dc != nil {
		// The leak baseline is read at the first step that does work
		// (BeginStep), after the baseline hold: the server is idle then,
		// and connections the clients open lazily after their handshake
		// (streamable HTTP) are in it too.
		w.sm = probes.NewSampler(w.rt, 0, time.Now().Add(-t.Elapsed()))
		if err := w.sm.Start(ctx); err != nil {
			if w.own != nil {
				_ = w.own.Close()
			}
			return fmt.Errorf("cannot start the runtime sampler: %w", err)
		}
	}
	opts := w.opts.Heartbeat
	opts.Origin = time.Now().Add(-t.Elapsed())
	if target.pinger != nil {
		opts.Sender = target.pinger
	}
	if w.dc != nil {
		opts.OnBreach = w.onBreach
	}
	if r, err := probes.ReadCPU(os.Getpid(), t.ServerPID); err == nil {
		w.cpuStart, w.cpuOK = r, true
	}
	w.hb = probes.NewHeartbeat(target, opts)
	if err := w.hb.Start(ctx); err != nil {
		w.stopSampler()
		if w.own != nil {
			_ = w.own.Close()
		}
		return fmt.Errorf("cannot start heartbeat: %w", err)
	}
	return nil
}

// baseline reads the goroutine and fd counts the leak check compares to,
// on a fresh connection (the listener's own per-connection goroutines are
// then the same at both ends).
func (w *watch) baseline(ctx context.Context) {
	w.dc.Close()
	rs, err := w.rt.Runtime(ctx)
	if err != nil {
		w.note("no runtime baseline, no leak check: %v", err)
		return
	}
	w.base, w.baseOK = rs, true
	if t, err := readFDTargets(w.rt.procRoot, w.tgt.ServerPID); err == nil {
		w.baseFDs = t
	}
	if d, err := w.dc.Goroutines(ctx); err == nil {
		w.idleBas = idleConnLoops(d)
		w.baseG = d.Goroutines
	}
	if w.rt.Fallback() {
		w.note("/debug/runtime not served: goroutines from the goroutine profile, fds and RSS from /proc; scheduling latency not measured")
	}
}

// dctx is ctx for a debug fetch: already cancelled once the listener
// stopped answering, so the fetch returns at once.
func (w *watch) dctx(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	if w.sick.Load() {
		cancel()
	}
	return c, cancel
}

// fetched records a fetch's outcome: a timeout marks the listener sick.
func (w *watch) fetched(err error) {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && !w.sick.Swap(true) {
		w.note("the debug listener stopped answering (%v); no more profiles are fetched in this scenario", err)
	}
}

func (w *watch) stopSampler() {
	if w.sm != nil {
		w.sm.Stop()
	}
}

func (w *watch) SetPhase(name string) {
	if w.hb != nil {
		w.hb.SetPhase(name)
	}
}

// BeginStep starts collecting one step's evidence: block/mutex profiles
// at its start, goroutine dumps while it runs.
func (w *watch) BeginStep(ctx context.Context, name string) {
	if w.hb != nil {
		w.hb.ArmBreach()
	}
	if w.dc == nil {
		return
	}
	if !w.baseTried {
		w.baseTried = true
		w.baseline(ctx)
	}
	dctx, cancel := w.dctx(ctx)
	ps, err := w.dc.BeginStep(dctx, name)
	cancel()
	w.fetched(err)
	if err != nil && !errors.Is(err, probes.ErrNotServed) && !w.sick.Load() {
		w.note("step %q: %v", name, err)
	}
	sw := &stepWatch{name: name, start: w.tgt.Elapsed(), ps: ps, stop: make(chan struct{}), done: make(chan struct{})}
	w.mu.Lock()
	w.cur = sw
	w.steps = append(w.steps, sw)
	w.mu.Unlock()
	every, maxDumps := w.opts.DumpEvery, w.opts.MaxDumps
	go func() {
		defer close(sw.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 0; n < maxDumps; n++ {
			select {
			case <-ctx.Done():
				return
			case <-sw.stop:
				return
			case <-t.C:
			}
			if w.sick.Load() {
				return
			}
			_, err := ps.SampleGoroutines(ctx) // a missed dump is only less evidence
			w.fetched(err)
		}
	}()
}

// EndStep stops the step's dumps, takes its end profiles, and merges the
// server's call list (its recent list is a ring that the heartbeat's
// no-op calls overwrite within seconds, so it is read after every step).
func (w *watch) EndStep(ctx context.Context) {
	w.mu.Lock()
	sw := w.cur
	w.cur = nil
	w.mu.Unlock()
	if sw == nil {
		return
	}
	close(sw.stop)
	<-sw.done
	dctx, cancel := w.dctx(ctx)
	err := sw.ps.End(dctx)
	cancel()
	w.fetched(err)
	if err != nil && !errors.Is(err, probes.ErrNotServed) && !w.sick.Load() {
		w.note("step %q: %v", sw.name, err)
	}
	w.mu.Lock()
	sw.end = w.tgt.Elapsed()
	w.mu.Unlock()
	w.readCalls(ctx)
}

// onBreach runs on the heartbeat's breach goroutine when a probe has been
// outstanding past the breach threshold: while the server is still stuck,
// take goroutine dumps and the flight-recorder window.
func (w *watch) onBreach(ctx context.Context, b probes.Breach) {
	w.mu.Lock()
	sw := w.cur
	if sw != nil {
		sw.breached = true
	}
	w.notes = append(w.notes, fmt.Sprintf("heartbeat breach at %.0f ms: %s outstanding %s in phase %s",
		reports.Millis(b.Intended.Sub(time.Now().Add(-w.tgt.Elapsed()))), b.Kind, b.Elapsed.Round(time.Millisecond), b.Phase))
	w.mu.Unlock()
	if w.sick.Load() {
		return
	}
	if sw == nil {
		// Between steps: keep the evidence as a step of its own.
		ps, err := w.dc.BeginStep(ctx, "breach")
		w.fetched(err)
		now := w.tgt.Elapsed()
		sw = &stepWatch{name: "breach", start: now, end: now, ps: ps, breached: true}
		w.mu.Lock()
		w.steps = append(w.steps, sw)
		w.mu.Unlock()
	}
	err := sw.ps.OnBreach(ctx, breachGap)
	w.fetched(err)
	if err != nil && !errors.Is(err, probes.ErrNotServed) && ctx.Err() == nil && !w.sick.Load() {
		w.note("breach evidence: %v", err)
	}
}

func (w *watch) readCalls(ctx context.Context) {
	if w.dc == nil {
		return
	}
	dctx, cancel := w.dctx(ctx)
	defer cancel()
	c, err := w.dc.Calls(dctx)
	w.fetched(err)
	if err != nil {
		w.note("/debug/calls: %v", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ci := range c.Recent {
		w.calls[ci.Seq] = ci
	}
	w.lastCall = c
}

// Stop ends the probes and fills res: heartbeat and phases, runtime
// series, fake-side counters, and (judging) the checks, the validity and
// the diagnosis.
func (w *watch) Stop(ctx context.Context, res *reports.Scenario) error {
	if w.hb == nil {
		return nil
	}
	w.EndStep(ctx) // a step cut short by a cancelled run
	w.hb.Stop()
	w.stopSampler()
	snap := w.hb.Snapshot()
	res.Heartbeat = snap.Report()
	res.Phases = snap.ReportPhases()
	if w.sm != nil {
		w.sm.Series().Fill(res)
	}
	// The heartbeat's own connection (HTTP) goes before the leak check:
	// its client pools more than one keep-alive connection when probes
	// overlap, and each pooled one holds a goroutine and an fd in the
	// server that the harness, not the server, is keeping.
	if w.own != nil {
		_ = w.own.Close()
		w.own = nil
	}
	if w.judge {
		w.evaluate(ctx, res, snap)
	}
	// After the evaluation: the fakes' counts then cover the shipper's
	// last batches too.
	if f := w.tgt.Fakes; f != nil {
		res.Fakes = map[string]int64{}
		for k, v := range f.APIStats() {
			res.Fakes["api."+k] = v
		}
		for k, v := range f.SinkStats() {
			res.Fakes["sink."+k] = v
		}
	}
	if w.own != nil {
		_ = w.own.Close()
	}
	if w.dc != nil {
		w.dc.Close()
	}
	w.mu.Lock()
	res.Notes = append(res.Notes, w.notes...)
	w.mu.Unlock()
	return nil
}

// evaluate measures what the thresholds judge and appends the checks.
func (w *watch) evaluate(ctx context.Context, res *reports.Scenario, snap *probes.HeartbeatSnapshot) {
	if skip := unjudgedPhases(res); len(skip) > 0 {
		for _, p := range slices.Sorted(maps.Keys(skip)) {
			w.note("heartbeat phase %s measured, not judged: %s", p, skip[p])
		}
		snap = snap.Without(skip)
	}
	m := probes.Measurements{Heartbeat: snap}
	for _, st := range res.Steps {
		if st.Kind == KindCancel && st.NextOKMS > 0 {
			m.CancelToNextOK = append(m.CancelToNextOK, time.Duration(st.NextOKMS*float64(time.Millisecond)))
		}
		if st.Kind == KindCall && st.Outcome == OutcomeOK && st.Query != "" {
			m.Calls = append(m.Calls, probes.CallShare{Step: st.Index, Name: st.Name, Query: st.Query,
				Class: st.CallClass, Faulted: underFault(st, res.Faults),
				Server: reports.FromMillis(st.ServerMS), Upstream: reports.FromMillis(st.UpstreamMS)})
		}
	}
	if w.dc != nil {
		w.measureServer(ctx, res, &m)
	}
	res.Checks = append(res.Checks, w.th.Evaluate(m)...)
	res.Checks = append(res.Checks, w.stallChecks()...)

	var sched *probes.SchedWindow
	if win, ok := w.phaseSched(snap, w.th.BaselinePhase); ok {
		sched = &win
	}
	w.judgeValidity(res, snap, sched)

	if reports.Failed(res) && w.dc != nil {
		w.diagnose(res)
	}
}

// underFault reports whether a step ran, in part, while a fault was set
// (a window still open at the end has EndMS < 0).
func underFault(st reports.Step, faults []reports.FaultWindow) bool {
	end := st.StartMS + st.LatencyMS
	for _, f := range faults {
		if st.StartMS < f.EndMS || f.EndMS < 0 {
			if end > f.StartMS {
				return true
			}
		}
	}
	return false
}

// judgeValidity marks the run invalid when the harness could not judge it:
// the prober fell behind (Thresholds.Validity), or another process on the
// machine took enough CPU to make the server's latency checks fail. It
// never hides a failure: a failed step, a non-latency check, or a latency
// check that failed by more than the prober's lateness or the server's
// own waits for a CPU can explain, keeps the verdict fail.
func (w *watch) judgeValidity(res *reports.Scenario, snap *probes.HeartbeatSnapshot, sched *probes.SchedWindow) {
	why := w.th.Validity(snap, sched, w.opts.Calibration)
	lagMax := time.Duration(snap.SendLag.Max())
	if why == "" {
		lagMax = 0 // the prober was on time: its lateness explains nothing
	}
	foreign := w.foreignCPU(res)
	shared := foreign > w.th.ForeignCPUMax
	explains := func(c reports.Check) bool {
		var cpuWait time.Duration
		if shared {
			win, _ := w.phaseSched(snap, c.Phase)
			cpuWait = win.Max // the longest the server's goroutines waited for a CPU
		}
		return latencyExplained(c, lagMax, cpuWait)
	}
	real := unexplained(res, explains)
	switch {
	case why == "" && (!shared || !reports.Failed(res)):
		return
	case real != "":
		if why == "" {
			why = fmt.Sprintf("other processes kept %.2f CPUs busy", foreign)
		}
		w.note("the run could not be judged fairly (%s), but %s fails beyond that: verdict fail, not invalid", why, real)
	case why == "":
		res.Invalid = fmt.Sprintf("the machine was shared: other processes kept %.2f CPUs busy during this scenario (above %.2f), "+
			"and its failing latency checks exceed their limits by no more than the server's goroutines waited for a CPU — "+
			"not a verdict on the server; replay it on a quieter machine", foreign, w.th.ForeignCPUMax)
	default:
		res.Invalid = why
	}
}

// leakedKinds compares the server's goroutines with the baseline's by
// identity (creator and parked frame) until none is in surplus or the
// deadline passes, and returns the surplus. Up to idle keep-alive
// connections upstream (their read and write loops) are tolerated, as the
// count check tolerates them.
func (w *watch) leakedKinds(ctx context.Context, deadline time.Time, idle int) []probes.LeakedGoroutine {
	for {
		d, err := w.dc.Goroutines(ctx)
		if err != nil {
			w.note("leak check by identity not made: %v", err)
			return nil
		}
		var kinds []probes.LeakedGoroutine
		for _, k := range probes.GoroutineSurplus(w.baseG, d.Goroutines) {
			if inboundConn(k.CreatedBy) {
				continue
			}
			if idleConnLoop(k.ParkedAt) {
				if k.Extra -= idle; k.Extra <= 0 {
					continue
				}
			}
			kinds = append(kinds, k)
		}
		if len(kinds) == 0 || !time.Now().Before(deadline) {
			return kinds
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return kinds
		case <-t.C:
		}
	}
}

// latencyExplained says whether a failed heartbeat latency check exceeds
// its limit by no more than the prober's lateness (latencies are measured
// from the intended send time, so a late send adds at most lagMax) or than
// the longest the server's goroutines waited for a CPU another process
// held (cpuWait, 0 when the machine was not shared).
func latencyExplained(c reports.Check, lagMax, cpuWait time.Duration) bool {
	if !strings.HasPrefix(c.Name, "heartbeat.") || c.Unit != "ms" {
		return false
	}
	return c.Value-c.Threshold <= reports.Millis(max(lagMax, cpuWait))
}

// foreignCPU measures how many CPUs other processes kept busy since the
// heartbeat started, notes it in res and returns it; 0 when unmeasured.
func (w *watch) foreignCPU(res *reports.Scenario) float64 {
	if !w.cpuOK {
		return 0
	}
	end, err := probes.ReadCPU(os.Getpid(), w.tgt.ServerPID)
	if err != nil {
		return 0
	}
	f := probes.ForeignCPU(w.cpuStart, end)
	res.ForeignCPU = math.Round(f*100) / 100
	return f
}

// phaseSched is the server's scheduling latency over a heartbeat phase
// (a phase still current ends now); false when it was not sampled.
func (w *watch) phaseSched(snap *probes.HeartbeatSnapshot, phase string) (probes.SchedWindow, bool) {
	if w.sm == nil {
		return probes.SchedWindow{}, false
	}
	p, ok := snap.Phase(phase)
	if !ok {
		return probes.SchedWindow{}, false
	}
	end := p.End
	if end.IsZero() {
		end = time.Now()
	}
	return w.sm.Between(p.Start, end)
}

// measureServer reads the leak, log and cancel figures from the server.
func (w *watch) measureServer(ctx context.Context, res *reports.Scenario, m *probes.Measurements) {
	if w.sick.Load() {
		w.note("leak, log and cancel checks not made: the debug listener stopped answering")
		return
	}
	if w.baseOK {
		w.measureLeaks(ctx, m)
	}
	w.measureCancels(ctx, m)
	// Log accounting, once the shipper drained (or the settle time passed).
	if la, ok := w.logAccount(ctx); ok {
		m.Logs = la
		res.Logs = la
		m.HealthySink = !sinkFaulted(w.tgt.Scenario)
	}
	w.measureLogWaits(m)
}

// measureLeaks checks that goroutines and fds are back to the baseline
// once the server had time to settle, by count and by identity. The
// server's idle keep-alive connections upstream (net/http persistConn
// read/write loops) are a pool bounded by its Transport, closed after
// their idle timeout — not leaks: each one found beyond the baseline's is
// tolerated (2 goroutines, 1 fd) and said in a note. A server with
// /debug/settle closes them itself: then nothing is tolerated.
func (w *watch) measureLeaks(ctx context.Context, m *probes.Measurements) {
	w.dc.Close()
	idle := 0
	if rep, err := w.dc.Settle(ctx); err == nil {
		w.note("settled before the leak check: %s", strings.TrimSpace(string(rep)))
	} else if d, err := w.dc.Goroutines(ctx); err == nil {
		idle = max(0, idleConnLoops(d)-w.idleBas)
	}
	leak, err := probes.WaitSettled(ctx, w.rt, w.base, probes.LeakOptions{
		Timeout: w.th.SettleTimeout, GoroutineTolerance: int64(2 * idle), FDTolerance: int64(idle)})
	if err != nil {
		w.note("leak check not made: %v", err)
		return
	}
	if w.baseG != nil {
		leak.Kinds = w.leakedKinds(ctx, time.Now().Add(w.th.SettleTimeout-leak.Waited), idle)
		var n int64
		for _, k := range leak.Kinds {
			n += int64(k.Extra)
		}
		leak.LeakedGoroutines = max(leak.LeakedGoroutines, n)
		w.leaked = leak.Kinds
	}
	m.Leak = &leak
	if leak.LeakedFDs > 0 {
		now, err := readFDTargets(w.rt.procRoot, w.tgt.ServerPID)
		if err != nil {
			w.note("open fds beyond the baseline's, by target: unknown (%v)", err)
		} else {
			w.note("open fds beyond the baseline's, by target: %s", formatFDTargets(now))
			if w.baseFDs != nil {
				leak.FDKinds = probes.FDSurplus(w.baseFDs, now)
			}
		}
	}
	if idle > 0 {
		w.note("leak check tolerated %d idle upstream keep-alive connection(s) (2 goroutines, 1 fd each)", idle)
	}
}

// measureCancels reads every cancelled call the server saw, by seq: how
// long each took to return, and the answers sent to cancelled requests.
func (w *watch) measureCancels(ctx context.Context, m *probes.Measurements) {
	w.readCalls(ctx)
	w.mu.Lock()
	merged := probes.Calls{Calls: debugapi.Calls{Now: w.lastCall.Now, InFlight: w.lastCall.InFlight, SuppressedResponses: w.lastCall.SuppressedResponses}}
	for _, ci := range w.calls {
		merged.Recent = append(merged.Recent, ci)
	}
	w.mu.Unlock()
	sort.Slice(merged.Recent, func(i, j int) bool { return merged.Recent[i].Seq < merged.Recent[j].Seq })
	done, stuck := merged.CancelToReturn(time.Now())
	m.CancelToReturn = done
	if len(done) > 0 || len(stuck) > 0 {
		m.CancelStuck = stuck
		if m.CancelStuck == nil {
			m.CancelStuck = []time.Duration{}
		}
	}
	if n, cancelled := merged.ResponsesAfterCancel(); cancelled > 0 {
		m.ResponsesAfterCancel = &n
	}
}

// measureLogWaits counts request-path goroutines seen waiting in log
// shipping, from two sources: goroutines seen in the same log-shipping
// stack in dumps at least the bound apart, and block-profile stacks in log
// shipping whose wait reached it (waits shorter than the dump gap).
func (w *watch) measureLogWaits(m *probes.Measurements) {
	var dumps []*probes.GoroutineDump
	var block []probes.StackSample
	w.mu.Lock()
	for _, sw := range w.steps {
		ev := sw.ps.Evidence()
		dumps = append(dumps, ev.Dumps...)
		block = append(block, ev.Block...)
	}
	w.mu.Unlock()
	if len(dumps) == 0 && len(block) == 0 {
		return
	}
	causes := []string{probes.CauseLogShippingIO, probes.CauseStderrWrite}
	n := probes.LongWaits(dumps, w.th.RequestLogWaitMin, causes...) +
		probes.LongBlockWaits(block, probes.LearnPaths(dumps), w.th.RequestLogWaitMin, causes...)
	m.RequestLogWaits = &n
}

// logAccount reads the shipper's counters until nothing is pending (the
// sink's count only matches the shipper's once its last batch is
// answered), for at most the settle time.
func (w *watch) logAccount(ctx context.Context) (*reports.LogAccount, bool) {
	deadline := time.Now().Add(w.th.SettleTimeout)
	for {
		b, err := w.dc.Vars(ctx)
		if err != nil {
			w.note("log accounting not made: %v", err)
			return nil, false
		}
		vars, err := probes.ParseVars(b)
		if err != nil {
			w.note("log accounting not made: %v", err)
			return nil, false
		}
		if vars.Logship.VictoriaLogs == nil {
			w.note("log accounting not made: no shipper counters in /debug/vars")
			return nil, false
		}
		sc := probes.LogCountersOf(vars.Logship.VictoriaLogs.SinkStats)
		ship := &sc
		var stderr *probes.LogCounters
		if st := vars.Logship.Stderr; st != nil {
			c := probes.LogCountersOf(*st)
			stderr = &c
		}
		received := int64(0)
		if f := w.tgt.Fakes; f != nil {
			received = f.SinkStats()["records_received"]
		}
		la := probes.AccountLogs(*ship, stderr, received)
		if ship.Pending == 0 && la.SinkReceived == la.Delivered || time.Now().After(deadline) {
			return la, true
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return la, true
		case <-t.C:
		}
	}
}

// sinkFaulted reports whether the scenario injects any sink fault (then
// records may be dropped by design).
func sinkFaulted(sc *Scenario) bool {
	if sc.Faults.Sink != nil {
		return true
	}
	var walk func([]Step) bool
	walk = func(steps []Step) bool {
		for _, st := range steps {
			if st.Fault != nil && st.Fault.Sink != nil {
				return true
			}
			if st.Repeat != nil && walk(st.Repeat.Steps) {
				return true
			}
		}
		return false
	}
	return walk(sc.Steps)
}

// idleConnLoop says whether a parked frame is one of net/http's loops of a
// kept-alive client connection.
func idleConnLoop(parked string) bool {
	return strings.Contains(parked, "(*persistConn).readLoop") || strings.Contains(parked, "(*persistConn).writeLoop")
}

// inboundConn says whether a goroutine was started by net/http's server for
// a connection a peer opened (the harness's own MCP and debug
// connections): it lives as long as the peer keeps the connection, so it
// is not the server's leak. A handler's own goroutines name the handler as
// their creator and are still judged.
func inboundConn(createdBy string) bool {
	return strings.HasPrefix(createdBy, "http.(*Server).Serve ") || strings.HasPrefix(createdBy, "http.(*connReader).startBackgroundRead ")
}

// idleConnLoops counts the idle upstream keep-alive connections in a dump
// (one persistConn readLoop each).
func idleConnLoops(d *probes.GoroutineDump) int {
	n := 0
	for _, g := range d.Goroutines {
		for _, f := range g.Stack {
			if strings.HasSuffix(f.Func, "(*persistConn).readLoop") {
				n++
				break
			}
		}
	}
	return n
}

// unexplained names a failed step, or a failed check that explains does
// not account for; "" if there is none.
func unexplained(res *reports.Scenario, explains func(reports.Check) bool) string {
	for _, st := range res.Steps {
		if !st.Pass {
			return fmt.Sprintf("step %d %s", st.Index, st.Name)
		}
	}
	for _, c := range res.Checks {
		if !c.Pass && !explains(c) {
			return fmt.Sprintf("check %s [%s] (%.1f %s %.1f)", c.Name, c.Phase, c.Value, c.Op, c.Threshold)
		}
	}
	return ""
}

// diagnose ranks the evidence of the steps that explain the failure: the
// steps that failed or during which the heartbeat breached, the steps of a
// phase whose checks failed, else every step. Their raw profiles are saved
// under Options.OutDir/profiles/<scenario>/.
func (w *watch) diagnose(res *reports.Scenario) {
	w.mu.Lock()
	steps := append([]*stepWatch(nil), w.steps...)
	w.mu.Unlock()
	ev := w.evidence(res, pickSteps(res, steps))
	ev.Baseline = w.baseG
	res.Diagnosis = probes.Diagnose(ev, probes.DiagnoseOptions{Sources: w.src})
	explainCheck(res)
	explainLeak(res, w.leaked)
	explainBudget(res, steps, w.baseG, w.src)
	w.explainStall(res)
	if res.Diagnosis == nil && len(ev.Profiles) > 0 {
		res.Diagnosis = &reports.Diagnosis{Cause: probes.CauseUnknown,
			Summary: "no request-path goroutine was seen waiting; see the saved profiles", Profiles: ev.Profiles}
	}
}

// pickSteps chooses the steps whose evidence explains the failure: those
// that overlap a failed step or a phase with a failed check, and those
// with a heartbeat breach; all of them when none does.
func pickSteps(res *reports.Scenario, steps []*stepWatch) []*stepWatch {
	pick := map[*stepWatch]bool{}
	overlapping := func(from, to time.Duration) {
		for _, sw := range steps {
			if sw.start <= to && sw.end >= from {
				pick[sw] = true
			}
		}
	}
	for _, st := range res.Steps {
		if !st.Pass {
			overlapping(dur(st.StartMS), dur(st.StartMS+st.LatencyMS))
		}
	}
	failedPhase := map[string]bool{}
	for _, c := range res.Checks {
		if !c.Pass && c.Phase != "" {
			failedPhase[c.Phase] = true
		}
	}
	for _, ph := range res.Phases {
		if failedPhase[ph.Name] {
			overlapping(dur(ph.StartMS), dur(ph.EndMS))
		}
	}
	var out []*stepWatch
	for _, sw := range steps {
		if pick[sw] || sw.breached {
			out = append(out, sw)
		}
	}
	if len(out) == 0 {
		return steps
	}
	return out
}

// evidence gathers the picked steps' evidence and saves their raw
// profiles beside the result (their paths, relative to it, in Profiles).
func (w *watch) evidence(res *reports.Scenario, picked []*stepWatch) probes.Evidence {
	var ev probes.Evidence
	dir := ""
	if w.opts.OutDir != "" {
		dir = filepath.Join(w.opts.OutDir, "profiles", safeName(res.Name))
	}
	for _, sw := range picked {
		e := sw.ps.Evidence()
		ev.Dumps = append(ev.Dumps, e.Dumps...)
		ev.Block = append(ev.Block, e.Block...)
		ev.Mutex = append(ev.Mutex, e.Mutex...)
		ev.Trace = append(ev.Trace, e.Trace...)
		if dir == "" {
			continue
		}
		paths, err := sw.ps.SaveProfiles(dir)
		if err != nil {
			w.note("cannot save the profiles of step %q: %v", sw.name, err)
		}
		for _, p := range paths {
			if rel, err := filepath.Rel(w.opts.OutDir, p); err == nil {
				p = filepath.ToSlash(rel)
			}
			ev.Profiles = append(ev.Profiles, p)
		}
	}
	return ev
}

// explainBudget diagnoses a call whose own share broke its budget
// (call.server_ms or call.repeat_ms) from its own step: CPU when the
// request path's goroutines ran rather than waited (at least half of the
// call's own share was request-path CPU in the step's profile window; the
// culprit is the server function that burned most of it), else the waits
// of that step, with the holder of a lock it waited on
// ([probes.OwnShareDiagnosis]).
func explainBudget(res *reports.Scenario, steps []*stepWatch, base []probes.Goroutine, src *probes.Sources) {
	for _, c := range res.Checks {
		if c.Pass || !strings.HasPrefix(c.Name, "call.") {
			continue
		}
		var idx int
		if _, err := fmt.Sscanf(c.Name[strings.Index(c.Name, "[")+1:], "step %d]", &idx); err != nil {
			continue
		}
		prefix := fmt.Sprintf("s%02d-", idx)
		for _, sw := range steps {
			if !strings.HasPrefix(sw.name, prefix) || sw.ps == nil {
				continue
			}
			own := time.Duration(c.Value * float64(time.Millisecond))
			d := probes.CPUDiagnosis(idx, own, sw.ps.CPU(), probes.DiagnoseOptions{})
			if d == nil {
				// Not on CPU: the call waited; its step's waits say where.
				ev := sw.ps.Evidence()
				ev.Baseline = base
				d = probes.OwnShareDiagnosis(ev, probes.DiagnoseOptions{Sources: src})
			}
			if d == nil {
				continue
			}
			if res.Diagnosis != nil {
				d.Profiles = res.Diagnosis.Profiles
			}
			res.Diagnosis = d
			return
		}
	}
}

// explainLeak makes a goroutine leak the diagnosis when the leak check is
// what failed (no step, no other check): the culprit is the function whose
// go statement created the most leaked goroutines, with where they park.
func explainLeak(res *reports.Scenario, leaked []probes.LeakedGoroutine) {
	if len(leaked) == 0 {
		return
	}
	leakFailed := false
	for _, c := range res.Checks {
		switch {
		case c.Pass:
		case c.Name == "leak.goroutines":
			leakFailed = true
		default:
			return
		}
	}
	for _, st := range res.Steps {
		if !st.Pass {
			return
		}
	}
	if !leakFailed {
		return
	}
	kinds := slices.Clone(leaked)
	slices.SortStableFunc(kinds, func(a, b probes.LeakedGoroutine) int { return b.Extra - a.Extra })
	d := &reports.Diagnosis{Cause: probes.CauseGoroutineLeak, Culprit: kinds[0].CreatedBy,
		Summary: fmt.Sprintf("goroutine-leak: %s after the scenario settled", kinds[0])}
	if res.Diagnosis != nil {
		d.Profiles = res.Diagnosis.Profiles
	}
	for _, k := range kinds {
		d.Frames = append(d.Frames, reports.Culprit{Frame: k.CreatedBy, Cause: probes.CauseGoroutineLeak,
			Goroutines: k.Extra, Source: "goroutine", Stack: k.Stack})
	}
	res.Diagnosis = d
}

// explainCheck makes the diagnosis name the cause of a failed check that
// says what kind of wait it saw: when "a request goroutine waited in log
// shipping" failed, the top culprit is the highest-ranked log-shipping or
// stderr-write frame, even if other waits (uploads queued for a slot or
// for the provider) add up to more.
func explainCheck(res *reports.Scenario) {
	d := res.Diagnosis
	if d == nil {
		return
	}
	// Only the heartbeat failed (no step): a ping or a no-op call never
	// waits on the provider, so waits for upstream connections or answers
	// (which every upload burst shows) cannot explain it; the top frame
	// with another named cause can.
	stepFailed, hbFailed := false, false
	for _, st := range res.Steps {
		stepFailed = stepFailed || !st.Pass
	}
	for _, c := range res.Checks {
		hbFailed = hbFailed || (!c.Pass && strings.HasPrefix(c.Name, "heartbeat."))
	}
	if hbFailed && !stepFailed {
		for _, f := range d.Frames {
			switch f.Cause {
			case probes.CauseConnPool, probes.CauseSlowUpstream, probes.CauseUnknown:
				continue
			}
			if f.Frame != d.Culprit || f.Cause != d.Cause {
				d.Summary = fmt.Sprintf("%s: request-path goroutines waited %.0f ms at %s (%s evidence); named because the heartbeat failed and a probe never waits upstream — %s",
					f.Cause, f.WaitMS, f.Frame, f.Source, d.Summary)
				d.Cause, d.Culprit = f.Cause, f.Frame
			}
			break
		}
	}
	for _, c := range res.Checks {
		if c.Pass || c.Name != "logs.request_path_waits" {
			continue
		}
		for _, f := range d.Frames {
			if f.Cause == probes.CauseLogShippingIO || f.Cause == probes.CauseStderrWrite {
				if f.Frame != d.Culprit || f.Cause != d.Cause {
					d.Summary = fmt.Sprintf("%s: request-path goroutines waited %.0f ms at %s (%s evidence); named because check %s failed — %s",
						f.Cause, f.WaitMS, f.Frame, f.Source, c.Name, d.Summary)
					d.Cause, d.Culprit = f.Cause, f.Frame
				}
				return
			}
		}
	}
}

func dur(msv float64) time.Duration { return time.Duration(msv * float64(time.Millisecond)) }

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// formatFDTargets summarises fds counted by [readFDTargets], most first
// ("/tmp/x/secondbrain.db ×70, socket ×36"), for a leak's note.
func formatFDTargets(count map[string]int) string {
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, count[k]))
	}
	return strings.Join(parts, ", ")
}

// readFDTargets counts a process's open descriptors by target: a file by
// its path, an anonymous one by its kind ("socket", "pipe",
// "anon_inode:[eventpoll]"), so that a surplus names what leaked.
func readFDTargets(procRoot string, pid int) (map[string]int, error) {
	if pid <= 0 {
		return nil, errors.New("no pid")
	}
	dir := fmt.Sprintf("%s/%d/fd", procRoot, pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", dir, err)
	}
	count := map[string]int{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if kind, _, ok := strings.Cut(l, ":["); ok && !strings.HasPrefix(l, "/") && kind != "anon_inode" {
			l = kind
		}
		count[l]++
	}
	return count, nil
}
