package probes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// TraceWait is where goroutines of a flight-recorder window could not run
// because they waited: every wait that began with the same State and Stack,
// summed over the window.
type TraceWait struct {
	// State is "syscall" for time in a system call, else the reason the
	// trace gives for the block: "chan receive", "chan send", "select",
	// "sync" (a sync.Mutex, RWMutex, WaitGroup or semaphore),
	// "sync.(*Cond).Wait", "network", "sleep", "system goroutine wait"…;
	// see [TraceState] for how the diagnosis reads it.
	State string
	// Count is how many waits began here inside the window, plus those
	// already under way when it opened.
	Count int64
	// Delay is the time spent in those waits inside the window; a wait
	// still open when the window ends counts up to its end.
	Delay time.Duration
	// Stack is the stack the goroutine entered the wait with, leaf first.
	Stack []Frame
}

// TraceStateSyscall is [TraceWait.State] for time in a system call.
const TraceStateSyscall = "syscall"

// ParseTraceWaits reads a runtime/trace execution trace (a flight-recorder
// window) and returns where its goroutines waited, sorted by delay, most
// first. Only time after since counts (a timestamp on the trace's clock,
// in nanoseconds; 0 counts the whole window): pass the end returned for
// the previous window of the same process, so that windows which overlap
// are not counted twice. end is the time of the window's last event.
//
// The result is bounded by the distinct stacks of the trace, not by its
// length. A trace cut short still yields what was read before the fault,
// with the error.
func ParseTraceWaits(data []byte, since int64) (waits []TraceWait, end int64, err error) {
	p, err := parseTraceWaits(data, trace.Time(since))
	if p != nil && since != 0 && p.started && p.end <= trace.Time(since) {
		// A window that ends before since runs on another clock (a
		// restarted process): none of it was counted before.
		p, err = parseTraceWaits(data, 0)
	}
	if p == nil || !p.started {
		return nil, 0, err
	}
	for g, w := range p.open {
		p.close(w, p.end)
		delete(p.open, g)
	}
	waits = make([]TraceWait, 0, len(p.aggs))
	for _, a := range p.aggs {
		waits = append(waits, *a)
	}
	sortTraceWaits(waits)
	return waits, int64(p.end), err
}

func parseTraceWaits(data []byte, since trace.Time) (*traceParser, error) {
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("cannot read the trace header: %w", err)
	}
	p := &traceParser{
		since:  since,
		stacks: map[trace.Stack]traceStack{},
		open:   map[trace.GoID]openWait{},
		aggs:   map[string]*TraceWait{},
	}
	for n := 0; ; n++ {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return p, fmt.Errorf("cannot read trace event %d: %w", n, err)
		}
		if n == 0 {
			// The reader opens with a Sync at the first generation's start.
			p.start = ev.Time()
		}
		if ev.Kind() == trace.EventSync {
			// The last Sync (and one before a read error) is no event of
			// the process: a window of nothing else is no window.
			continue
		}
		p.started, p.end = true, ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		if st := ev.StateTransition(); st.Resource.Kind == trace.ResourceGoroutine {
			p.transition(ev.Time(), st)
		}
	}
}

type traceStack struct {
	frames []Frame
	key    string
}

type openWait struct {
	state string
	stack traceStack
	at    trace.Time
}

type traceParser struct {
	started    bool // an event other than Sync was read
	start, end trace.Time
	since      trace.Time
	stacks     map[trace.Stack]traceStack
	open       map[trace.GoID]openWait
	aggs       map[string]*TraceWait
}

func (p *traceParser) transition(at trace.Time, st trace.StateTransition) {
	g := st.Resource.Goroutine()
	from, to := st.Goroutine()
	if from == to {
		// A generation restating a state this reader already follows.
		return
	}
	if w, ok := p.open[g]; ok {
		p.close(w, at)
		delete(p.open, g)
	}
	if to != trace.GoWaiting && to != trace.GoSyscall {
		return
	}
	stk := p.stack(st.Stack)
	w := openWait{stack: stk, at: at}
	switch {
	case to == trace.GoSyscall:
		w.state = TraceStateSyscall
	case st.Reason != "":
		w.state = st.Reason
	default:
		// A goroutine stated at its first event in the window (or at the
		// window's end), or created blocked, comes without a reason; the
		// frame it parked in tells it.
		w.state = reasonFromStack(stk.frames)
	}
	if from == trace.GoUndetermined {
		// It has been in this state since before the window opened.
		w.at = p.start
	}
	p.open[g] = w
}

func (p *traceParser) close(w openWait, at trace.Time) {
	counted := w.at >= p.since // else the previous window counted it
	begin := max(w.at, p.since)
	if at <= begin && !counted {
		return
	}
	k := w.state + "\x00" + w.stack.key
	a := p.aggs[k]
	if a == nil {
		a = &TraceWait{State: w.state, Stack: w.stack.frames}
		p.aggs[k] = a
	}
	if counted {
		a.Count++
	}
	if at > begin {
		a.Delay += at.Sub(begin)
	}
}

// stack converts a trace stack once per distinct stack of the window.
func (p *traceParser) stack(s trace.Stack) traceStack {
	if ts, ok := p.stacks[s]; ok {
		return ts
	}
	var ts traceStack
	for f := range s.Frames() {
		ts.frames = append(ts.frames, Frame{Func: f.Func, File: f.File, Line: int(f.Line)})
	}
	ts.key = lineKey(ts.frames)
	p.stacks[s] = ts
	return ts
}

// lineKey identifies a stack by function and line: what a window's waits
// and MergeTraceWaits aggregate by, with the state.
func lineKey(stack []Frame) string {
	var b strings.Builder
	for _, f := range stack {
		b.WriteString(f.Func)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(f.Line))
		b.WriteByte('\n')
	}
	return b.String()
}

// reasonFromStack names the wait of a goroutine the trace states without
// a reason, as the runtime would have at its block: by the runtime or
// sync frame it parked in. "" when no frame tells.
func reasonFromStack(stack []Frame) string {
	for _, f := range stack {
		switch {
		case strings.HasPrefix(f.Func, "runtime.selectgo"):
			return "select"
		case strings.HasPrefix(f.Func, "runtime.chanrecv"):
			return "chan receive"
		case strings.HasPrefix(f.Func, "runtime.chansend"):
			return "chan send"
		case f.Func == "runtime.block":
			return "forever"
		case strings.HasSuffix(f.Func, "sync.runtime_notifyListWait"):
			return "sync.(*Cond).Wait"
		case strings.Contains(f.Func, "sync.runtime_Semacquire"), strings.HasPrefix(f.Func, "runtime.semacquire"):
			return "sync"
		case strings.HasPrefix(f.Func, "internal/poll.runtime_pollWait"), f.Func == "runtime.netpollblock":
			return "network"
		case f.Func == "time.Sleep":
			return "sleep"
		}
	}
	return ""
}

// MergeTraceWaits adds the waits of src into dst, summing those of the
// same state and stack, and returns dst sorted by delay.
func MergeTraceWaits(dst []TraceWait, src ...[]TraceWait) []TraceWait {
	idx := make(map[string]int, len(dst))
	key := func(w TraceWait) string { return w.State + "\x00" + lineKey(w.Stack) }
	for i, w := range dst {
		idx[key(w)] = i
	}
	for _, ws := range src {
		for _, w := range ws {
			k := key(w)
			if i, ok := idx[k]; ok {
				dst[i].Count += w.Count
				dst[i].Delay += w.Delay
				continue
			}
			idx[k] = len(dst)
			dst = append(dst, w)
		}
	}
	sortTraceWaits(dst)
	return dst
}

func sortTraceWaits(ws []TraceWait) {
	sort.SliceStable(ws, func(i, j int) bool {
		if ws[i].Delay != ws[j].Delay {
			return ws[i].Delay > ws[j].Delay
		}
		return ws[i].Count > ws[j].Count
	})
}

// TraceState maps a [TraceWait] onto the wait state [ClassifyStack] knows
// from goroutine dumps. ok is false for waits that are nobody's hold on
// the request path: a deliberate sleep, the runtime's own goroutines, the
// garbage collector (also when it parks an allocating goroutine), a
// preemption. An unknown reason maps to "" (the frames alone decide, as
// for a block-profile stack).
func TraceState(w TraceWait) (state string, ok bool) {
	if inGC(w.Stack) {
		return "", false
	}
	switch w.State {
	case TraceStateSyscall:
		return "syscall", true
	case "chan receive", "chan send", "select":
		return w.State, true
	case "sync":
		// The trace gives one reason to every sync wait; dumps tell them
		// apart, and so does the frame the goroutine parked from.
		switch {
		case anyFrame(w.Stack, "sync.(*RWMutex).RLock"):
			return "sync.RWMutex.RLock", true
		case anyFrame(w.Stack, "sync.(*RWMutex).Lock"):
			return "sync.RWMutex.Lock", true
		case anyFrame(w.Stack, "sync.(*Mutex).Lock", "internal/sync.(*Mutex).Lock"):
			return "sync.Mutex.Lock", true
		case anyFrame(w.Stack, "sync.(*WaitGroup).Wait"):
			return "sync.WaitGroup.Wait", true
		}
		return "semacquire", true
	case "sync.(*Cond).Wait":
		return "sync.Cond.Wait", true
	case "network":
		return "IO wait", true
	case "forever":
		switch {
		case anyFrame(w.Stack, "runtime.chanrecv"):
			return "chan receive (nil chan)", true
		case anyFrame(w.Stack, "runtime.chansend"):
			return "chan send (nil chan)", true
		}
		return "select (no cases)", true
	case "sleep", "system goroutine wait", "preempted", "wait for debug call", "synctest",
		"GC mark assist wait for work", "GC background sweeper wait", "wait until GC ends",
		"GC weak to strong wait":
		return "", false
	}
	return "", true
}

// inGC reports whether a wait was entered inside the garbage collector: an
// allocation paying its mark assist parks on the GC's own semaphore (the
// trace says "sync") under whatever application frames allocated. Those
// frames (a file read, a context.WithValue) held nothing.
func inGC(stack []Frame) bool {
	for _, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "internal/runtime/") {
			return false
		}
		if strings.HasPrefix(f.Func, "runtime.gc") || strings.HasPrefix(f.Func, "runtime.mallocgc") ||
			f.Func == "runtime.GC" || f.Func == "runtime.deductAssistCredit" {
			return true
		}
	}
	return false
}
