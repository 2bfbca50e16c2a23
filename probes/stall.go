package probes

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// LabelTrace is the pprof label that carries a traced call's W3C trace id
// (32 lowercase hex digits) on the server's goroutines for that call.
const LabelTrace = "trace"

// ownerSpan is how far below a lock's address a pointer may point and
// still be read as the lock's owner (the struct the lock is a field of).
const ownerSpan = 4096

// StallDiagnosis diagnoses a call that made no progress — no answer and no
// request at the provider — for stalledFor, from one goroutine dump taken
// while it was stuck: the call's goroutines are those labelled
// LabelTrace=traceID. It names where the call waits and, when the dump
// shows it, what holds the resource it waits for ([HolderOf]). It returns
// nil when no goroutine of the call waits (the call is not in the server:
// not dispatched yet, or its answer is on its way out). base is the
// server's goroutines at the baseline, where, with gs, its pools' workers
// are found.
func StallDiagnosis(gs, base []Goroutine, traceID string, stalledFor time.Duration, ended func(traceID string) bool, opts DiagnoseOptions) *reports.Diagnosis {
	opts = opts.withDefaults()
	dump := []*GoroutineDump{{Goroutines: gs}}
	workers := findPools(base, dump).busyWorkers(gs, LearnPaths(dump))
	w, cause, ok := stalledWaiter(gs, traceID, opts.Sources, workers)
	if !ok {
		return nil
	}
	i := CulpritFrame(w.Stack, opts.ModulePrefix)
	if i < 0 {
		return nil
	}
	var h Goroutine
	j, why, held := -1, "", false
	if cause != CauseRequestCPU {
		h, j, why, held = HolderOf(gs, w, opts.ModulePrefix, ended)
	}
	if !held && cause == CauseWorkerPool {
		h, why = workers[0], "a worker of the pool, seen idle receiving, now serving a request"
		j = CulpritFrame(h.Stack, opts.ModulePrefix)
		held = j >= 0
	}
	if held && isMutexWait(w) {
		cause = CauseLockHeld
	}
	waiter := reports.Culprit{Frame: w.Stack[i].Short(), Cause: cause, Goroutines: 1, WaitMS: reports.Millis(stalledFor),
		Source: "goroutine", Stack: formatStack(w.Stack, opts.StackDepth)}
	d := &reports.Diagnosis{Cause: cause, Culprit: waiter.Frame, Frames: []reports.Culprit{waiter}}
	where, note := "waits at", ""
	if cause == CauseRequestCPU {
		where, note = "was on CPU at", " (one sample: the step's CPU profile says more)"
	}
	d.Summary = fmt.Sprintf("%s: the call made no progress for %s; goroutine %d %s %s [%s]%s",
		cause, fmtMS(stalledFor), w.ID, where, waiter.Frame, w.State, note)
	if held {
		holder := reports.Culprit{Frame: h.Stack[j].Short(), Cause: cause, Goroutines: 1, Source: "goroutine",
			Stack: formatStack(h.Stack, opts.StackDepth)}
		d.Holder = &holder
		d.Frames = append(d.Frames, holder)
		d.Summary += fmt.Sprintf(", held by goroutine %d at %s [%s] (%s)", h.ID, holder.Frame, h.State, why)
	}
	return d
}

// stalledWaiter picks the call's goroutine that shows the stall: one
// whose wait the rules explain (a log write, a connection pool, a file)
// before one they do not, then the most specific wait (a lock before a
// channel, a channel before a select, a select before waiting for its own
// children), and its cause.
//
// A wait to send is resolved against the pool workers busy in gs
// (sendCause): one that is its own fan-out's bound is no stall of anyone.
func stalledWaiter(gs []Goroutine, traceID string, src *Sources, workers []Goroutine) (Goroutine, string, bool) {
	var best Goroutine
	bestRank, cause := -1, ""
	for _, g := range gs {
		if traceID == "" || g.Labels[LabelTrace] != traceID || len(g.Stack) == 0 {
			continue
		}
		c := classifyWait(g.State, g.Stack, src)
		if c == causeSendWait {
			c = sendCause(g, gs, workers)
		}
		switch st := baseState(g.State); {
		case c == "" && (st == "running" || st == "runnable"):
			c = CauseRequestCPU // busy, not waiting: the stall is its own work
		case c == "" && st == "sleep":
			c = CauseUnknown // a sleep on the call's path is its stall too
		}
		if c == "" || c == CauseSlowUpstream {
			continue
		}
		r := waitRank(g)
		if c != CauseUnknown && c != CauseRequestCPU {
			r += 20
		}
		if r > bestRank {
			best, bestRank, cause = g, r, c
		}
	}
	return best, cause, bestRank >= 0
}

// waitRank orders the kinds of wait: a lock, a channel, a goroutine on CPU
// (busy with the call's own work), a select, anything else, waiting for
// its own children last.
func waitRank(g Goroutine) int {
	switch s := baseState(g.State); {
	case isMutexWait(g):
		return 10
	case s == "chan send" || s == "chan receive" || s == "semacquire":
		return 8
	case s == "running" || s == "runnable":
		return 7
	case s == "select" || s == "sync.Cond.Wait":
		return 6
	case s == "sync.WaitGroup.Wait":
		return 2
	}
	return 4
}

func isMutexWait(g Goroutine) bool {
	s := baseState(g.State)
	return strings.HasPrefix(s, "sync.Mutex") || strings.HasPrefix(s, "sync.RWMutex")
}

// waitFrames are the frames whose first argument is the resource a
// goroutine waits for: the lock, the channel, the semaphore.
var waitFrames = []string{
	"internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock", "sync.(*RWMutex).Lock",
	"sync.(*RWMutex).RLock", "sync.runtime_SemacquireRWMutexR", "sync.runtime_SemacquireRWMutex",
	"runtime.chansend1", "runtime.chansend", "runtime.chanrecv1", "runtime.chanrecv2", "runtime.chanrecv",
	"golang.org/x/sync/semaphore.(*Weighted).Acquire",
}

// WaitAddress is the address of what g waits for — a mutex, a channel, a
// semaphore — read from the arguments of the runtime or sync frame it
// waits in; ok is false when the dump does not show it.
func WaitAddress(g Goroutine) (uint64, bool) {
	for _, f := range g.Stack {
		if !slices.Contains(waitFrames, f.Func) {
			continue
		}
		if ws := argWords(f.Args); len(ws) > 0 && ws[0] != 0 {
			return ws[0], true
		}
	}
	return 0, false
}

// HolderOf names the goroutine that most likely holds what w waits for,
// from the dump alone, the frame of it to name, and says why. The
// evidence, strongest first:
//   - a frame's argument is the resource itself (4), or points at the
//     struct it is a field of, up to ownerSpan bytes below it (2);
//   - it carries the trace label of another call that has ended (3): work
//     a call started outlived it; of a call still in flight (1);
//   - one of its frames in the module (modulePrefix) is a method of the
//     waiter's receiver type, or in the waiter's package — that frame is
//     the one named.
//
// Goroutines that wait for the same resource are co-waiters, never
// holders. Kinship alone names nobody (every goroutine of a type's loop
// is kin): a holder needs a reference to the resource or to be the work of
// an ended call, and 3 points; ties go to the older goroutine (lower id).
// ended says whether the call of a trace id has returned; nil means
// unknown.
func HolderOf(gs []Goroutine, w Goroutine, modulePrefix string, ended func(traceID string) bool) (h Goroutine, frame int, why string, ok bool) {
	addr, hasAddr := WaitAddress(w)
	wi := CulpritFrame(w.Stack, modulePrefix)
	if wi < 0 {
		return Goroutine{}, -1, "", false
	}
	wf := w.Stack[wi].Func
	bestScore := 0
	for _, g := range gs {
		if g.ID == w.ID || len(g.Stack) == 0 {
			continue
		}
		if a, ok := WaitAddress(g); hasAddr && ok && a == addr {
			continue // waits for it too
		}
		gi := CulpritFrame(g.Stack, modulePrefix)
		if gi < 0 || !strings.HasPrefix(g.Stack[gi].Func, modulePrefix) {
			continue
		}
		score, reasons, direct := 0, []string{}, false
		if hasAddr {
			switch pointsAt(g, addr) {
			case 2:
				score, direct = score+4, true
				reasons = append(reasons, fmt.Sprintf("a frame of it has %#x as an argument", addr))
			case 1:
				score, direct = score+2, true
				reasons = append(reasons, fmt.Sprintf("a frame of it has the struct holding %#x as an argument", addr))
			}
		}
		if t := g.Labels[LabelTrace]; t != "" && t != w.Labels[LabelTrace] {
			if ended != nil && ended(t) {
				score, direct = score+3, true
				reasons = append(reasons, "started by a call that has ended (trace "+t+")")
			} else {
				score++
				reasons = append(reasons, "work of another call in flight (trace "+t+")")
			}
		}
		if k, kin := kinFrame(g.Stack, wf, modulePrefix); k >= 0 {
			gi = k
			score += kin
			if kin == 2 {
				reasons = append(reasons, "code of the waiter's type "+funcReceiver(wf))
			} else {
				reasons = append(reasons, "code of the waiter's package")
			}
		}
		if direct && score >= 3 && (score > bestScore || score == bestScore && g.ID < h.ID) {
			h, frame, why, bestScore = g, gi, strings.Join(reasons, "; "), score
		}
	}
	return h, frame, why, bestScore >= 3
}

// kinFrame is the innermost module frame of stack that is a method of
// fn's receiver type (kin 2) or, failing that, in fn's package (kin 1);
// -1 when there is none.
func kinFrame(stack []Frame, fn, modulePrefix string) (index, kin int) {
	pkg, recv := funcPackage(fn), funcReceiver(fn)
	index = -1
	for i, f := range stack {
		if !strings.HasPrefix(f.Func, modulePrefix) || funcPackage(f.Func) != pkg {
			continue
		}
		if recv != "" && funcReceiver(f.Func) == recv {
			return i, 2
		}
		if index < 0 {
			index, kin = i, 1
		}
	}
	return index, kin
}

// pointsAt is 2 when a frame of g has addr as an argument word, 1 when
// one points up to ownerSpan bytes below it, else 0.
func pointsAt(g Goroutine, addr uint64) int {
	best := 0
	for _, f := range g.Stack {
		for _, v := range argWords(f.Args) {
			switch {
			case v == addr:
				return 2
			case v < addr && addr-v < ownerSpan:
				best = 1
			}
		}
	}
	return best
}

// funcPackage is the import path of a function name:
// "a.com/x/server.(*S).m.func1" → "a.com/x/server".
func funcPackage(fn string) string {
	slash := strings.LastIndex(fn, "/")
	dot := strings.Index(fn[slash+1:], ".")
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

// funcReceiver is the receiver type of a method name, "" for a function:
// "a.com/x/server.(*S).m" → "(*S)", "pkg.T.m" → "T" (a value receiver is
// told from a function only by the capital of a type; "pkg.f.func1" has
// none).
func funcReceiver(fn string) string {
	rest := strings.TrimPrefix(fn, funcPackage(fn)+".")
	if strings.HasPrefix(rest, "(") {
		if i := strings.Index(rest, ")"); i > 0 {
			return rest[:i+1]
		}
	}
	// A closure's "deferwrapN.(*S).m.1" names the method it wraps.
	if i := strings.Index(rest, ".(*"); i >= 0 {
		if j := strings.Index(rest[i+1:], ")"); j > 0 {
			return rest[i+1 : i+2+j]
		}
	}
	return ""
}
