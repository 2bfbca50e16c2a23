package probes

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// DefaultModulePrefix is the import-path prefix of the server under test:
// culprit frames are taken from it first.
const DefaultModulePrefix = "github.com/secondbrain-dev/secondbrain/"

// Evidence is what a diagnosis ranks: goroutine dumps taken during and
// after a step (and at a heartbeat breach), the block and mutex profile
// deltas over the step, and the waits of the flight-recorder windows
// fetched at a breach.
type Evidence struct {
	Dumps []*GoroutineDump
	Block []StackSample // Delta of the block profile over the step
	Mutex []StackSample // Delta of the mutex profile (unlockers' stacks)
	// Trace holds the waits of the flight-recorder windows: syscalls,
	// which the block profile never sees, and blocks, all timed exactly.
	Trace []TraceWait
	// Profiles are the saved raw files, copied into the diagnosis.
	Profiles []string
	// Baseline is the server's goroutines while it was idle, before the
	// scenario. A dump's goroutine still where it was then is left out
	// ([DropIdle]); with the dumps, it is where the workers of the
	// server's pools are found idle (see findPools).
	Baseline []Goroutine
}

// DiagnoseOptions tune [Diagnose]. The zero value uses the defaults.
type DiagnoseOptions struct {
	// ModulePrefix: culprit frames are taken from this module first.
	// "" means [DefaultModulePrefix].
	ModulePrefix string
	// MaxFrames is how many ranked frames to keep (default 10).
	MaxFrames int
	// StackDepth is how many frames of each culprit's stack to keep
	// (default 16).
	StackDepth int
	// RequestMarkers are extra frame substrings that mark a goroutine as
	// request path when it has no labels (block/mutex stacks never do),
	// e.g. the dispatch function of a server run with --server-cmd.
	RequestMarkers []string
	// Sources reads the server's source to tell a select's cases; nil
	// means a cache for one call.
	Sources *Sources
}

type culpritAgg struct {
	frame       Frame
	cause       string
	source      string
	goroutines  int                     // max seen in one dump
	waits       map[int64]time.Duration // per goroutine id: longest observed wait
	delay       time.Duration           // block/mutex delay
	contentions int64                   // block/mutex events
	stack       []Frame
	state       string // wait state of the first goroutine seen
}

func (a *culpritAgg) waitSum() time.Duration {
	var s time.Duration
	for _, w := range a.waits {
		s += w
	}
	return s + a.delay
}

func (a *culpritAgg) waitMax() time.Duration {
	var m time.Duration
	for _, w := range a.waits {
		m = max(m, w)
	}
	return max(m, a.delay)
}

// withDefaults fills the zero fields of o with their defaults.
func (o DiagnoseOptions) withDefaults() DiagnoseOptions {
	if o.ModulePrefix == "" {
		o.ModulePrefix = DefaultModulePrefix
	}
	if o.Sources == nil {
		o.Sources = NewSources()
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = 10
	}
	if o.StackDepth <= 0 {
		o.StackDepth = 16
	}
	return o
}

// Diagnose ranks the frames where request-path goroutines waited and names
// the top one with a cause label. It returns nil when no request-path
// goroutine was found waiting on anything.
//
// Each waiting request-path goroutine (or block/mutex stack, or
// flight-recorder wait) is classified by [ClassifyStack] and keyed by its
// culprit frame ([CulpritFrame]) and source. A key's wait is the sum over
// its goroutines of the longest wait observed (the runtime's "N minutes",
// or the time between the first and last dump that show the goroutine
// waiting in the same culprit function for the same cause) plus its
// block/mutex delay, or for source "trace"
// the exact time the window shows in syscalls and blocks there (the wait
// reason mapped by [TraceState]; path by frames, as traces carry no
// labels). Keys rank by tier, then by that wait, then by the most
// goroutines seen behind the frame in one dump.
func Diagnose(ev Evidence, opts DiagnoseOptions) *reports.Diagnosis {
	dumps := DropIdle(ev.Dumps, ev.Baseline) // a copy when there is a baseline
	dumps = append([]*GoroutineDump(nil), dumps...)
	sort.SliceStable(dumps, func(i, j int) bool { return dumps[i].At.Before(dumps[j].At) })
	r := &ranker{opts: opts.withDefaults(), idx: LearnPaths(dumps), aggs: map[string]*culpritAgg{},
		poolFrames: map[string]bool{}, creators: goStatements(ev, dumps)}
	r.addDumps(dumps, findPools(ev.Baseline, dumps))
	for _, s := range ev.Block {
		// the waiter's stack, state unknown
		r.addDelay(s.Labels, s.Stack, "", "block", s.Delay, s.Count)
	}
	for _, s := range ev.Mutex {
		// the holder's stack at Unlock: whatever it did, others queued on
		// its lock
		r.addDelay(s.Labels, s.Stack, "sync.Mutex.Lock", "mutex", s.Delay, s.Count)
	}
	// Traces carry no labels: the frames tell the request path.
	for _, w := range ev.Trace {
		state, ok := TraceState(w)
		if !ok {
			continue
		}
		if a := r.addDelay(nil, w.Stack, state, "trace", w.Delay, w.Count); a != nil && a.state == "" {
			a.state = state
		}
	}
	if len(r.aggs) == 0 {
		return nil
	}
	return r.diagnosis(r.rank(), ev.Profiles)
}

// ranker gathers the request path's waits of one diagnosis by culprit
// frame, cause and source.
type ranker struct {
	opts       DiagnoseOptions
	idx        *PathIndex
	aggs       map[string]*culpritAgg
	poolFrames map[string]bool // culprit functions of waits on a busy pool
	poolWorker *Goroutine      // a busy worker of that pool, seen first
	creators   map[string]bool // functions that started a goroutine ([goStatements])
}

// get is the aggregate of a stack's culprit frame for cause and source,
// and the key that follows one goroutine's wait across dumps.
func (r *ranker) get(stack []Frame, cause, source string) (*culpritAgg, string) {
	i := CulpritFrame(stack, r.opts.ModulePrefix)
	var f Frame
	if i >= 0 {
		f = stack[i]
	}
	k := f.Short() + "|" + cause + "|" + source
	a := r.aggs[k]
	if a == nil {
		a = &culpritAgg{frame: f, cause: cause, source: source, waits: map[int64]time.Duration{}, stack: stack}
		r.aggs[k] = a
	}
	return a, f.Func + "|" + cause
}

// addDumps files the waiting request-path goroutines of dumps (oldest
// first). A goroutine waits in its culprit function for as long as dumps
// keep finding it there for the same cause, whatever the line and leaf: a
// loop of short reads is caught in open, read or just out of the syscall
// (runnable), and each blocks the same caller.
func (r *ranker) addDumps(dumps []*GoroutineDump, pl *pools) {
	type seen struct {
		at  time.Time
		key string
	}
	first := map[int64]seen{} // goroutine id → first dump with its current stack
	for _, d := range dumps {
		perKey := map[*culpritAgg]int{}
		workers := pl.busyWorkers(d.Goroutines, r.idx)
		for _, g := range d.Goroutines {
			a, sk := r.classify(g, d.Goroutines, workers)
			if a == nil {
				delete(first, g.ID)
				continue
			}
			perKey[a]++
			w := g.Wait
			if s, ok := first[g.ID]; ok && s.key == sk {
				w = max(w, d.At.Sub(s.at))
			} else {
				first[g.ID] = seen{at: d.At, key: sk}
			}
			a.waits[g.ID] = max(a.waits[g.ID], w)
		}
		for a, n := range perKey {
			a.goroutines = max(a.goroutines, n)
		}
	}
}

// classify files one goroutine of a dump (gs, with the pool workers busy
// in it) under its culprit; nil when it is no request-path wait.
func (r *ranker) classify(g Goroutine, gs, workers []Goroutine) (*culpritAgg, string) {
	if p, _ := classifyPath(g.Labels, g.Stack, r.idx, "", r.opts.RequestMarkers); p != PathRequest {
		return nil, ""
	}
	cause := classifyWait(g.State, g.Stack, r.opts.Sources)
	if cause == causeSendWait {
		cause = sendCause(g, gs, workers)
		if cause == CauseSemaphoreHeld && len(workers) == 0 {
			// No pool was seen busy in this dump — a worker between two
			// jobs is enough — but another dump may have seen it: the wait
			// stays provisional, and rank names it by its frame, as it
			// does a profile's (worker-pool-exhausted once any dump saw
			// the pool busy at that send).
			cause = causeSendWait
		}
	}
	if cause == "" {
		return nil, ""
	}
	a, sk := r.get(g.Stack, cause, "goroutine")
	if cause == CauseWorkerPool {
		r.poolFrames[a.frame.Func] = true
		if r.poolWorker == nil {
			r.poolWorker = &workers[0]
		}
	}
	if a.state == "" {
		a.state = baseState(g.State)
	}
	return a, sk
}

// addDelay files a request-path wait measured as a total (block and mutex
// profiles, flight-recorder trace) under its culprit; nil when it is not
// one.
func (r *ranker) addDelay(labels map[string]string, stack []Frame, state, source string, delay time.Duration, count int64) *culpritAgg {
	if delay <= 0 {
		return nil
	}
	if p, _ := classifyPath(labels, stack, r.idx, "", r.opts.RequestMarkers); p != PathRequest {
		return nil
	}
	cause := classifyWait(state, stack, r.opts.Sources)
	if wf, ok := WaitFrame(stack); ok && cause == causeSendWait && r.creators[wf.Func] {
		return nil // a fan-out's bound: its own goroutines hold the slots
	}
	if cause == "" {
		return nil
	}
	a, _ := r.get(stack, cause, source)
	a.delay += delay
	a.contentions += count
	return a
}

// rank resolves the provisional causes and orders the culprits: by tier,
// then wait, then goroutines; at most MaxFrames.
func (r *ranker) rank() []*culpritAgg {
	logCause := r.logCause()
	ranked := make([]*culpritAgg, 0, len(r.aggs))
	for _, a := range r.aggs {
		switch {
		case a.cause == causeLogWait:
			a.cause = logCause
		case a.cause == causeSendWait && r.poolFrames[a.frame.Func]:
			// a profile's wait where the dumps saw the pool busy
			a.cause = CauseWorkerPool
		case a.cause == causeSendWait:
			a.cause = CauseSemaphoreHeld
		}
		ranked = append(ranked, a)
	}
	sort.Slice(ranked, func(i, j int) bool {
		a, b := ranked[i], ranked[j]
		if ta, tb := tier(a), tier(b); ta != tb {
			return ta < tb
		}
		if wa, wb := a.waitSum(), b.waitSum(); wa != wb {
			return wa > wb
		}
		if a.goroutines != b.goroutines {
			return a.goroutines > b.goroutines
		}
		if (a.cause == CauseUnknown) != (b.cause == CauseUnknown) {
			return b.cause == CauseUnknown
		}
		return a.frame.Short() < b.frame.Short()
	})
	return ranked[:min(len(ranked), r.opts.MaxFrames)]
}

// logCause resolves the provisional log-wait: goroutines queued on a log
// handler's lock are stuck behind whatever the handler is seen doing.
func (r *ranker) logCause() string {
	cause := ""
	for _, a := range r.aggs {
		switch a.cause {
		case CauseStderrWrite:
			cause = CauseStderrWrite
		case CauseLogShippingIO:
			if cause == "" {
				cause = CauseLogShippingIO
			}
		}
	}
	if cause == "" {
		return CauseLogShippingIO
	}
	return cause
}

// diagnosis names the top culprit and lists the ranked ones.
func (r *ranker) diagnosis(ranked []*culpritAgg, profiles []string) *reports.Diagnosis {
	diag := &reports.Diagnosis{Profiles: profiles}
	for _, a := range ranked {
		diag.Frames = append(diag.Frames, reports.Culprit{
			Frame:      a.frame.Short(),
			Cause:      a.cause,
			Goroutines: a.goroutines,
			WaitMS:     reports.Millis(a.waitMax()), // goroutine: longest seen; block/mutex: total delay
			Source:     a.source,
			Stack:      formatStack(a.stack, r.opts.StackDepth),
		})
	}
	top := ranked[0]
	diag.Cause, diag.Culprit, diag.Summary = top.cause, top.frame.Short(), top.summary()
	if top.cause == CauseWorkerPool && r.poolWorker != nil {
		diag.Holder = workerCulprit(*r.poolWorker, r.opts)
		diag.Summary += fmt.Sprintf("; the pool's workers all served requests, e.g. goroutine %d at %s", r.poolWorker.ID, diag.Holder.Frame)
	}
	return diag
}

// summary is the one line that names a culprit: its cause, where and how
// it waited, and for how long, from this row alone.
func (a *culpritAgg) summary() string {
	how := a.state
	if wf, ok := WaitFrame(a.stack); ok && wf.Func != a.frame.Func {
		how = strings.TrimPrefix(strings.TrimSpace(how+" in "+ShortFunc(wf.Func)), "in ")
	}
	if how == "" {
		how = "waiting"
	}
	switch a.source {
	case "goroutine":
		return fmt.Sprintf("%s: %d request-path goroutine(s) waiting at %s, %s; longest wait seen %s",
			a.cause, a.goroutines, a.frame.Short(), how, a.waitMax().Round(time.Millisecond))
	case "trace":
		return fmt.Sprintf("%s: request-path goroutines waited %s in total (%d waits, flight-recorder trace) at %s, %s",
			a.cause, a.delay.Round(time.Millisecond), a.contentions, a.frame.Short(), how)
	}
	return fmt.Sprintf("%s: request-path goroutines waited %s in total (%d contentions, %s profile) at %s, %s",
		a.cause, a.delay.Round(time.Millisecond), a.contentions, a.source, a.frame.Short(), how)
}

// workerCulprit names a busy pool worker: the holder of what a
// worker-pool wait waited for.
func workerCulprit(w Goroutine, opts DiagnoseOptions) *reports.Culprit {
	c := &reports.Culprit{Cause: CauseWorkerPool, Goroutines: 1, Source: "goroutine", Stack: formatStack(w.Stack, opts.StackDepth)}
	if i := CulpritFrame(w.Stack, opts.ModulePrefix); i >= 0 {
		c.Frame = w.Stack[i].Short()
	}
	return c
}

// sendCause resolves g's wait to send, among the goroutines gs of its
// dump. When the function that waits has started goroutines that are
// still running (a fan-out that takes a slot per goroutine it starts),
// the slots are held by its own work: that is no wait on anyone else, ""
// — its children's own waits say what holds them. On a pool whose workers
// the dump finds all busy, worker-pool-exhausted, unless g is one of them
// or work of a call one of them serves (same trace). Else a slot nobody
// frees: semaphore-held.
func sendCause(g Goroutine, gs, workers []Goroutine) string {
	if ownFanOut(g, gs) {
		return ""
	}
	if len(workers) == 0 {
		return CauseSemaphoreHeld
	}
	trace := g.Labels[LabelTrace]
	for _, w := range workers {
		if w.ID == g.ID || trace != "" && w.Labels[LabelTrace] == trace {
			return CauseSemaphoreHeld
		}
	}
	return CauseWorkerPool
}

// goStatements is the set of functions seen starting a goroutine in the
// run's evidence: the creator a dump prints ("created by F"), and the
// function whose closure a stack of any source starts from (a goroutine
// begun with `go func(){…}()` in F has F.func1 at its root). A profile's
// wait to send in one of them is taken for a fan-out's bound, as
// [ownFanOut] proves it for a dump's.
func goStatements(ev Evidence, dumps []*GoroutineDump) map[string]bool {
	out := map[string]bool{}
	root := func(stack []Frame) {
		for i := len(stack) - 1; i >= 0; i-- {
			if isStdlib(stack[i].Func) {
				continue // runtime.goexit and the like
			}
			if parent, ok := closureParent(stack[i].Func); ok {
				out[parent] = true
			}
			return
		}
	}
	add := func(gs []Goroutine) {
		for _, g := range gs {
			if g.CreatedBy != nil {
				out[g.CreatedBy.Func] = true
			}
			root(g.Stack)
		}
	}
	add(ev.Baseline)
	for _, d := range dumps {
		add(d.Goroutines)
	}
	for _, ss := range [][]StackSample{ev.Block, ev.Mutex} {
		for _, s := range ss {
			root(s.Stack)
		}
	}
	for _, w := range ev.Trace {
		root(w.Stack)
	}
	return out
}

// closureParent is the function a closure is declared in, as the runtime
// names closures ("pkg.(*T).m.func1.2", "pkg.f.gowrap1" → "pkg.(*T).m",
// "pkg.f"); ok is false for a function that is no closure.
func closureParent(fn string) (string, bool) {
	start := strings.LastIndex(fn, "/") + 1
	for _, marker := range []string{".func", ".gowrap"} {
		if i := strings.Index(fn[start:], marker); i >= 0 {
			rest := fn[start+i+len(marker):]
			if rest != "" && rest[0] >= '0' && rest[0] <= '9' {
				return fn[:start+i], true
			}
		}
	}
	return "", false
}

// ownFanOut reports whether goroutines that g started from the function
// it waits in are still in gs.
func ownFanOut(g Goroutine, gs []Goroutine) bool {
	wf, ok := WaitFrame(g.Stack)
	if !ok {
		return false
	}
	for _, h := range gs {
		if h.CreatorID == g.ID && h.CreatedBy != nil && h.CreatedBy.Func == wf.Func {
			return true
		}
	}
	return false
}

// PromoteMin is the least wait a culprit with a named cause needs to rank
// above waits on the upstream: an incidental lock wait of a few
// milliseconds must not outrank a real stall at the provider.
const PromoteMin = 20 * time.Millisecond

// tier orders culprits before their wait: named causes (the root causes
// the faults package injects) first, then slow-upstream — a model
// call waits on its provider by design, and the scenarios' fakes are slow
// on purpose, so those waits are large in every run and only the culprit
// when nothing else is — then unknown.
func tier(a *culpritAgg) int {
	switch {
	case a.cause == CauseUnknown:
		return 2
	case a.cause == CauseSlowUpstream || a.waitSum() < PromoteMin:
		return 1
	}
	return 0
}

// LongBlockWaits counts request-path block-profile stacks with the given
// causes on which the request path waited at least min in total over the
// profile's window (a step): waits in log shipping shorter than the gap
// between two goroutine dumps, which [LongWaits] cannot prove, still show
// here. The total, not the mean, is judged: a handler that waits 83 ms on
// a slow sink for a few records and nothing for the others has a small
// mean, but the request it served still waited.
func LongBlockWaits(samples []StackSample, idx *PathIndex, min time.Duration, causes ...string) int {
	want := map[string]bool{}
	for _, c := range causes {
		want[c] = true
	}
	if want[CauseLogShippingIO] || want[CauseStderrWrite] {
		want[causeLogWait] = true
	}
	n := 0
	for _, s := range samples {
		if s.Delay < min {
			continue
		}
		if p, _ := ClassifyPathWith(s.Labels, s.Stack, idx, ""); p != PathRequest {
			continue
		}
		if want[ClassifyStack("", s.Stack)] {
			n++
		}
	}
	return n
}

// LongWaits counts request-path goroutines seen waiting with the given
// causes for at least min (observed across dumps, or as the runtime's
// minutes), e.g. the "no request-path goroutine waiting > 100 ms in log
// shipping" check. A single dump proves no duration below a minute, so at
// least two dumps min apart are needed to see shorter waits.
func LongWaits(dumps []*GoroutineDump, min time.Duration, causes ...string) int {
	want := map[string]bool{}
	for _, c := range causes {
		want[c] = true
	}
	if want[CauseLogShippingIO] || want[CauseStderrWrite] {
		want[causeLogWait] = true
	}
	ds := append([]*GoroutineDump(nil), dumps...)
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].At.Before(ds[j].At) })
	type seen struct {
		at  time.Time
		key string
	}
	first := map[int64]seen{}
	long := map[int64]bool{}
	for _, d := range ds {
		for _, g := range d.Goroutines {
			if p, _ := ClassifyPath(g.Labels, g.Stack); p != PathRequest {
				continue
			}
			if !want[ClassifyStack(g.State, g.Stack)] {
				delete(first, g.ID)
				continue
			}
			sk := g.State + "\n" + stackKey(g.Stack)
			if g.Wait >= min {
				long[g.ID] = true
			}
			if s, ok := first[g.ID]; ok && s.key == sk {
				if d.At.Sub(s.at) >= min {
					long[g.ID] = true
				}
			} else {
				first[g.ID] = seen{at: d.At, key: sk}
			}
		}
	}
	return len(long)
}
