package probes

import "strings"

// Path says which part of the server a goroutine serves.
type Path string

// Paths of a goroutine.
const (
	// PathRequest: under the MCP dispatch or a tool handler (including the
	// goroutines a handler starts, which inherit its pprof labels).
	PathRequest Path = "request"
	// PathBackground: the log shipper, the vector-store lifecycle sweeper,
	// the memory writer, the stderr writer.
	PathBackground Path = "background"
	// PathOther: runtime, debug listener, connection plumbing, unknown.
	PathOther Path = "other"
)

// Label keys the server sets with pprof.Do on its goroutines.
const (
	LabelPath      = "path"      // request | background
	LabelComponent = "component" // shipper | lifecycle | memory | stderr (background)
	LabelTool      = "tool"
	LabelRequestID = "request_id"
)

// pathMarker recognises a goroutine by a frame of the standard library or
// of a library the server uses, whatever its labels say.
type pathMarker struct {
	substr    string
	path      Path
	component string
}

// plumbingMarkers: connection plumbing a request starts inherits its
// labels but serves every later request too — never the request path.
var plumbingMarkers = []pathMarker{
	{"net/http.(*persistConn).readLoop", PathOther, "http-conn"},
	{"net/http.(*persistConn).writeLoop", PathOther, "http-conn"},
	{"net/http.(*Transport).dialConnFor", PathOther, "http-conn"},
}

// libraryMarkers place a stack without labels that the run's labelled
// goroutines did not place: profiling handlers, and mcp-go's own dispatch
// (a server run with --server-cmd may label nothing).
var libraryMarkers = []pathMarker{
	{"net/http/pprof.", PathOther, "debug"},
	{"github.com/mark3labs/mcp-go/server.", PathRequest, "mcp"},
}

// PathIndex places stacks that carry no pprof labels — block, mutex and
// trace samples, and goroutines of a server not run with
// GODEBUG=tracebacklabels=1 — by evidence, not by names: the functions the
// run's labelled goroutines (path=request|background) were seen in. A
// function seen on both paths places nothing.
type PathIndex struct {
	byFunc map[string]Path // PathOther: seen on both
}

// LearnPaths builds a PathIndex from the labelled goroutines of dumps.
func LearnPaths(dumps []*GoroutineDump) *PathIndex {
	idx := &PathIndex{byFunc: map[string]Path{}}
	for _, d := range dumps {
		for _, g := range d.Goroutines {
			p := Path(g.Labels[LabelPath])
			if (p != PathRequest && p != PathBackground) || matchMarker(g.Stack, plumbingMarkers) != nil {
				continue
			}
			for _, f := range g.Stack {
				if isStdlib(f.Func) {
					continue
				}
				if old, ok := idx.byFunc[f.Func]; ok && old != p {
					idx.byFunc[f.Func] = PathOther // seen on both paths
					continue
				}
				idx.byFunc[f.Func] = p
			}
		}
	}
	return idx
}

// place returns the path of the root-most frame the index knows for sure.
func (idx *PathIndex) place(stack []Frame) (Path, bool) {
	if idx == nil {
		return "", false
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if p, ok := idx.byFunc[stack[i].Func]; ok && p != PathOther {
			return p, true
		}
	}
	return "", false
}

// matchMarker is the first marker matched by a frame, from the root.
func matchMarker(stack []Frame, markers []pathMarker) *pathMarker {
	for i := len(stack) - 1; i >= 0; i-- {
		for j := range markers {
			if strings.Contains(stack[i].Func, markers[j].substr) {
				return &markers[j]
			}
		}
	}
	return nil
}

// ClassifyPath tells request path from background for one goroutine:
// plumbing first (it inherits labels), then pprof labels, then the
// standard library and library markers, then the server's import path
// (DefaultServerPrefix: the server's own unlabelled code serves requests).
// Stacks without labels are better placed with [ClassifyPathWith].
func ClassifyPath(labels map[string]string, stack []Frame) (Path, string) {
	return classifyPath(labels, stack, nil, "", nil)
}

// ClassifyPathWith is ClassifyPath with a run's [PathIndex] consulted for
// stacks without labels, and the server's import path given ("" means
// [DefaultServerPrefix]).
func ClassifyPathWith(labels map[string]string, stack []Frame, idx *PathIndex, modulePrefix string) (Path, string) {
	return classifyPath(labels, stack, idx, modulePrefix, nil)
}

func classifyPath(labels map[string]string, stack []Frame, idx *PathIndex, modulePrefix string, extraRequest []string) (Path, string) {
	if m := matchMarker(stack, plumbingMarkers); m != nil {
		return m.path, m.component
	}
	switch labels[LabelPath] {
	case string(PathRequest):
		return PathRequest, labels[LabelTool]
	case string(PathBackground):
		return PathBackground, labels[LabelComponent]
	}
	// An unlabelled inbound HTTP handler is the debug listener (the MCP
	// handlers label their calls).
	if n := len(stack); n > 0 && stack[n-1].Func == "net/http.(*conn).serve" {
		return PathOther, "inbound-http"
	}
	if p, ok := idx.place(stack); ok {
		return p, ""
	}
	if m := matchMarker(stack, libraryMarkers); m != nil {
		return m.path, m.component
	}
	for _, f := range stack {
		for _, m := range extraRequest {
			if strings.Contains(f.Func, m) {
				return PathRequest, "extra"
			}
		}
	}
	if modulePrefix == "" {
		modulePrefix = DefaultServerPrefix
	}
	for _, f := range stack {
		if strings.HasPrefix(f.Func, modulePrefix) {
			return PathRequest, "server"
		}
	}
	return PathOther, ""
}

// DefaultServerPrefix is the import path of the server under test: its
// unlabelled code that the run's labels did not place is taken to serve
// requests. (The harness shares the module; its own packages are not the
// server's.)
const DefaultServerPrefix = DefaultModulePrefix + "server"

// Cause labels of the diagnosis rule set (see the package doc).
const (
	CauseLogShippingIO = "log-shipping-io"
	CauseStderrWrite   = "stderr-write"
	CauseSemaphoreHeld = "semaphore-held"
	CauseWorkerPool    = "worker-pool-exhausted"
	CauseConnPool      = "conn-pool-exhausted"
	CauseBlockingFile  = "blocking-file-io"
	CauseSlowUpstream  = "slow-upstream"
	// CauseGoroutineLeak: goroutines born during the scenario still parked
	// after it settled (the leak check by identity); the culprit is the
	// function whose go statement created them.
	CauseGoroutineLeak = "goroutine-leak"
	// CauseLockHeld: request-path goroutines waited on a sync.Mutex or
	// RWMutex that another goroutine held; the diagnosis names the holder
	// too (the goroutine that released it, at release, from the mutex
	// profile).
	CauseLockHeld = "lock-held"
	CauseUnknown  = "unknown"
	// causeLogWait is provisional: a goroutine queued on a lock inside a
	// log handler. [Diagnose] resolves it to stderr-write or
	// log-shipping-io from the goroutine that holds the handler up.
	causeLogWait = "log-wait"
	// causeSendWait is provisional: a request-path goroutine waiting to
	// send on a channel. It is worker-pool-exhausted when the dump shows
	// the pool behind the channel busy, else semaphore-held.
	causeSendWait = "send-wait"
)

func anyFrame(stack []Frame, subs ...string) bool {
	for _, f := range stack {
		for _, s := range subs {
			if strings.Contains(f.Func, s) {
				return true
			}
		}
	}
	return false
}

var (
	logFrames = []string{"log/slog.", "log.(*Logger).", "log.Print", "log.Fatal",
		"Handler).Handle", "handler).Handle"}
	fileWriteFrames = []string{"os.(*File).Write", "os.(*File).write", "internal/poll.(*FD).Write",
		"internal/poll.(*pollDesc).waitWrite", "syscall.write", "syscall.Write"}
	netFrames = []string{"net/http.", "net.(*conn).", "net.(*netFD).", "net.(*TCPConn).",
		"golang.org/x/net/http2.", "crypto/tls."}
	connPoolFrames = []string{"net/http.(*Transport).getConn", "net/http.(*Transport).queueForIdleConn",
		"net/http.(*Transport).queueForDial", "net/http.(*wantConn)."}
	fileReadFrames = []string{"os.Open", "os.open", "os.ReadFile", "os.(*File).Read", "os.(*File).read",
		"os.(*File).pread", "os.Stat", "os.Lstat", "os.ReadDir", "os.(*File).ReadDir", "os.(*File).readdir",
		"internal/poll.(*FD).Read", "internal/poll.(*FD).Pread", "syscall.Open", "syscall.openat",
		"syscall.Read", "syscall.read", "syscall.Pread", "syscall.pread", "syscall.Stat", "syscall.fstatat"}
	lockFrames = []string{"sync.(*Mutex).Lock", "sync.(*RWMutex).Lock", "sync.(*RWMutex).RLock",
		"golang.org/x/sync/semaphore.(*Weighted).Acquire", "internal/sync.(*Mutex).Lock"}
	// plumbingFrames wait for input by design (the standard library's
	// connection loops): never a culprit. The server's own loops at rest
	// are told by identity instead (DropIdle: where they were at the
	// baseline), a stdio read loop by its wait (a pipe read parked in the
	// poller).
	plumbingFrames = []string{"net/http.(*persistConn).readLoop", "net/http.(*conn).readRequest",
		"net/http.(*connReader).", "net.(*TCPListener).Accept", "net.(*UnixListener).Accept",
		"os/signal.", "net/http.(*persistConn).writeLoop", "net/http.(*Server).Serve", "net/http.(*conn).serve"}
)

// syncStates are the wait reasons of a goroutine parked on a lock, a
// channel or a select.
var syncStates = map[string]bool{
	"chan send": true, "chan receive": true, "select": true, "semacquire": true,
	"sync.Mutex.Lock": true, "sync.RWMutex.Lock": true, "sync.RWMutex.RLock": true,
	"sync.Cond.Wait": true, "sync.WaitGroup.Wait": true,
	"chan send (nil chan)": true, "chan receive (nil chan)": true, "select (no cases)": true,
}

// notWaiting states are not blocking anyone: running, runnable, sleeping
// on purpose, idle, or owned by the runtime.
var notWaiting = map[string]bool{
	"running": true, "runnable": true, "sleep": true, "idle": true, "dead": true,
	"GC worker (idle)": true, "GC worker (active)": true, "GC sweep wait": true,
	"GC scavenge wait": true, "finalizer wait": true, "force gc (idle)": true,
	"trace reader (blocked)": true, "wait for GC cycle": true, "cleanup wait": true,
}

func baseState(s string) string {
	if i := strings.Index(s, " (scan)"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, " (durable)"); i >= 0 {
		s = s[:i]
	}
	return s
}

// ClassifyStack applies the rule set to one waiting goroutine: its wait
// state ("" when unknown, e.g. a block-profile stack) and its stack, leaf
// first. It returns the cause label, or "" when the goroutine is not
// blocked on anything the rules care about (running, sleeping, idle
// plumbing).
//
// Rules, first match wins:
//
//  1. a log frame (log/slog, log.Logger, a *Handler.Handle) and a
//     file write (os.(*File).Write, poll.FD.Write, syscall write) → stderr-write
//  2. a log frame and network/HTTP client frames → log-shipping-io
//  3. a log frame and a lock/channel wait → the log handler's lock, resolved
//     later to 1 or 2 by what the other stacks show the handler doing
//  4. net/http Transport getConn / queueForIdleConn / wantConn → conn-pool-exhausted
//  5. other HTTP client frames (roundTrip, persistConn) → slow-upstream
//  6. file open/read/stat without network frames → blocking-file-io
//  7. Mutex/RWMutex Lock, semacquire, x/sync semaphore Acquire →
//     semaphore-held
//  8. a wait to send on a channel — state "chan send", or a select whose
//     statement has a send case ([Sources]) — → semaphore-held: a slot
//     in a full channel that nobody frees. [Diagnose] names it
//     worker-pool-exhausted instead when the same dump shows the
//     channel's consumers all busy (a pool's workers, found by identity:
//     see findPools).
//  9. any other wait — a receive, a select without a send case, a sleep
//     on a timer channel — → unknown
//
// ClassifyStack reads no source: a select's cases are unknown to it, so
// rule 8 applies to "chan send" only; [Diagnose] and [StallDiagnosis]
// apply it to selects too.
func ClassifyStack(state string, stack []Frame) string {
	if c := classifyWait(state, stack, nil); c != causeSendWait {
		return c
	}
	return CauseSemaphoreHeld
}

// classifyWait is ClassifyStack with a select's cases read from src
// (nil: not read); a send wait is left provisional (causeSendWait) for
// the caller to resolve with the dump's pools.
func classifyWait(state string, stack []Frame, src *Sources) string {
	state = baseState(state)
	if notWaiting[state] {
		// A goroutine inside a file call shows as running or runnable once
		// the syscall has returned and it waits for a P back, or when it
		// is preempted on its way in — on a busy machine, most of the
		// times a loop of short reads is caught. It is still the file I/O
		// that holds the request path.
		if (state == "running" || state == "runnable") && inIOCall(stack) {
			if c := classifyWait("syscall", stack, src); c == CauseBlockingFile || c == CauseStderrWrite {
				return c
			}
		}
		return ""
	}
	// A transport loop waiting for input is idle by design; but a read
	// loop blocked in something it called (inline dispatch) is not, so
	// only the innermost application frame is checked.
	if apps := appFrames(stack); len(apps) > 0 {
		for _, p := range plumbingFrames {
			if strings.Contains(apps[0].Func, p) {
				return ""
			}
		}
	} else if anyFrame(stack, plumbingFrames...) {
		return ""
	}
	isLog := anyFrame(stack, logFrames...)
	isNet := anyFrame(stack, netFrames...)
	// A file read parked in the poller reads a pipe or a terminal (a
	// regular file's read never parks there: it holds its thread, state
	// "syscall"): a transport waiting for its next input, such as a stdio
	// server between lines. Not a wait on anyone.
	if state == "IO wait" && !isNet && !isLog && anyFrame(stack, fileReadFrames...) {
		return ""
	}
	isLock := anyFrame(stack, lockFrames...) || state == "semacquire" ||
		strings.HasPrefix(state, "sync.Mutex") || strings.HasPrefix(state, "sync.RWMutex")
	isSync := syncStates[state] || isLock ||
		(state == "" && anyFrame(stack, "runtime.chanrecv", "runtime.chansend", "runtime.selectgo", "runtime.semacquire", "sync.runtime_Semacquire", "sync.runtime_SemacquireMutex"))
	switch {
	case isLog && anyFrame(stack, fileWriteFrames...):
		return CauseStderrWrite
	case isLog && isNet:
		return CauseLogShippingIO
	case isLog && isSync:
		return causeLogWait
	case anyFrame(stack, connPoolFrames...):
		return CauseConnPool
	case isNet && anyFrame(stack, "net/http.(*Transport).", "net/http.(*persistConn).", "net/http.(*Client).", "net/http.send"):
		return CauseSlowUpstream
	case !isNet && anyFrame(stack, fileReadFrames...):
		return CauseBlockingFile
	case isLock:
		return CauseSemaphoreHeld
	case isSync && sendWait(state, stack, src):
		return causeSendWait
	}
	// Any other wait (a receive, a select that only receives — a result,
	// a signal, a timer —, IO wait, a syscall) is still a wait: ranked,
	// but unexplained.
	return CauseUnknown
}

// inIOCall reports whether the innermost frame outside the runtime is a
// system call or the os/poll wrapper around one.
func inIOCall(stack []Frame) bool {
	wf, ok := WaitFrame(stack)
	return ok && (strings.HasPrefix(wf.Func, "syscall.") || strings.HasPrefix(wf.Func, "internal/poll.") ||
		strings.HasPrefix(wf.Func, "os."))
}

// appFrames returns the non-stdlib frames of a stack (leaf first).
func appFrames(stack []Frame) []Frame {
	var out []Frame
	for _, f := range stack {
		if !isStdlib(f.Func) {
			out = append(out, f)
		}
	}
	return out
}

// isStdlib reports whether fn belongs to the runtime or the standard
// library: its import path's first element has no dot ("net/http",
// "sync"), except package main.
func isStdlib(fn string) bool {
	if strings.HasPrefix(fn, "main.") {
		return false
	}
	first := fn
	if i := strings.Index(first, "/"); i >= 0 {
		first = first[:i]
	} else if i := strings.Index(first, "."); i >= 0 {
		first = first[:i]
	}
	return !strings.Contains(first, ".")
}

// CulpritFrame picks the frame to name for a waiting stack: the first
// frame, from the leaf, in the module under test (modulePrefix, e.g.
// "github.com/secondbrain-dev/secondbrain/") that is not a pass-through —
// a callback a library calls on its way into itself (an HTTP client
// middleware between openai-go and openai-go only passes the request on;
// the server code that made the request is the culprit); else the first
// frame outside the standard library (e.g. mcp-go, openai-go); else the
// first frame outside the runtime. It returns the index in stack, or -1
// for an empty stack.
func CulpritFrame(stack []Frame, modulePrefix string) int {
	if modulePrefix != "" {
		first := -1
		for i, f := range stack {
			if !strings.HasPrefix(f.Func, modulePrefix) {
				continue
			}
			if first < 0 {
				first = i
			}
			if !passThrough(stack, i, modulePrefix) {
				return i
			}
		}
		if first >= 0 {
			return first
		}
	}
	for i, f := range stack {
		if !isStdlib(f.Func) {
			return i
		}
	}
	for i, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "internal/") {
			return i
		}
	}
	if len(stack) == 0 {
		return -1
	}
	return 0
}

// passThrough reports whether stack[i], a frame of the module under test,
// sits between two frames of one other module: the library called it and
// it called straight back into the library.
func passThrough(stack []Frame, i int, modulePrefix string) bool {
	if i == 0 || i == len(stack)-1 {
		return false
	}
	callee, caller := stack[i-1].Func, stack[i+1].Func
	if strings.HasPrefix(callee, modulePrefix) || strings.HasPrefix(caller, modulePrefix) {
		return false
	}
	r := moduleRoot(callee)
	return r != "" && r == moduleRoot(caller)
}

// moduleRoot is the repository part of a function's import path
// ("github.com/openai/openai-go" of "github.com/openai/openai-go/v3/option.F"),
// "" for the standard library.
func moduleRoot(fn string) string {
	if isStdlib(fn) {
		return ""
	}
	parts := strings.SplitN(fn, "/", 4)
	if len(parts) < 3 {
		return parts[0]
	}
	return strings.Join(parts[:3], "/")
}

// WaitFrame is the innermost frame outside the runtime: the operation the
// goroutine is blocked in (sync.(*Mutex).Lock, os.(*File).Write…).
func WaitFrame(stack []Frame) (Frame, bool) {
	for _, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "internal/") {
			return f, true
		}
	}
	return Frame{}, false
}
