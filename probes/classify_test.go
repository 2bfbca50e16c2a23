package probes

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

// stack builds a leaf-first stack from function names.
func stack(funcs ...string) []Frame {
	out := make([]Frame, len(funcs))
	for i, f := range funcs {
		out[i] = Frame{Func: f, File: "/x/" + strings.ReplaceAll(f, "/", "_") + ".go", Line: 10 + i}
	}
	return out
}

const (
	sb      = "github.com/secondbrain-dev/secondbrain/"
	mcpgo   = "github.com/mark3labs/mcp-go/server."
	openaio = "github.com/openai/openai-go/v3/internal/requestconfig.(*RequestConfig).Execute"
)

// TestClassifyStack_synthetic runs the rule set on stacks shaped like the
// server's (as the runtime prints them: runtime frames hidden).
func TestClassifyStack_synthetic(t *testing.T) {
	f := func(state string, st []Frame, want string) {
		t.Helper()
		if got := ClassifyStack(state, st); got != want {
			t.Errorf("ClassifyStack(%q, %v) = %q; want %q", state, st[0].Func, got, want)
		}
	}
	dispatch := []string{sb + "server.(*conn).dispatch.func1", sb + "server.(*Stdio).Serve.func1"}
	logCall := []string{"log/slog.(*Logger).log", "log/slog.(*Logger).InfoContext", sb + "server/vectorstore.(*Manager).dedupe"}

	// sync-stderr: the write syscall under the handler (blocking fd: syscall state).
	f("syscall", stack(append([]string{"syscall.Syscall", "syscall.write", "internal/poll.(*FD).Write", "os.(*File).Write",
		sb + "server/logship.(*stderrCore).writeSync", sb + "server/logship.(*Handler).Handle"}, append(logCall, dispatch...)...)...), CauseStderrWrite)
	// sync-stderr: queued on the handler's lock: provisional whatever the
	// functions are called (the writer's own stack resolves it).
	f("sync.Mutex.Lock", stack(append([]string{"internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock",
		sb + "server/logship.(*stderrCore).writeSync", sb + "server/logship.(*Handler).Handle"}, append(logCall, dispatch...)...)...), causeLogWait)
	// sync-log: POST to VictoriaLogs inline.
	f("select", stack(append([]string{"net/http.(*persistConn).roundTrip", "net/http.(*Transport).roundTrip", "net/http.(*Client).do",
		"net/http.(*Client).Post", sb + "server/logship.(*shipCore).postSync", sb + "server/logship.(*Handler).Handle"}, append(logCall, dispatch...)...)...), CauseLogShippingIO)
	// sync-log: queued on the shipper's lock, no stderr in sight: provisional.
	f("sync.Mutex.Lock", stack(append([]string{"sync.(*Mutex).Lock", sb + "server/logship.(*shipCore).postSync",
		sb + "server/logship.(*Handler).Handle"}, append(logCall, dispatch...)...)...), causeLogWait)
	// conn-pool: waiting for a connection under openai-go.
	f("select", stack(append([]string{"net/http.(*Transport).getConn", "net/http.(*Transport).roundTrip", "net/http.(*Transport).RoundTrip",
		"net/http.send", "net/http.(*Client).do", openaio, sb + "server/vectorstore.(*Manager).uploadFile"}, dispatch...)...), CauseConnPool)
	// slow upstream: the response never comes.
	f("select", stack(append([]string{"net/http.(*persistConn).roundTrip", "net/http.(*Transport).roundTrip",
		"net/http.(*Client).do", openaio, sb + "server/provider.(*OpenAI).poll"}, dispatch...)...), CauseSlowUpstream)
	// blocking file io: open(2) on a hung file, on the dispatch goroutine.
	f("syscall", stack(append([]string{"syscall.Syscall6", "syscall.openat", "syscall.Open", "os.open", "os.openFileNolog",
		"os.OpenFile", "os.ReadFile", sb + "server.readContextFileSync"}, dispatch...)...), CauseBlockingFile)
	// a send nobody takes: a slot in a full channel (Diagnose names a
	// worker pool instead when the dump shows one busy).
	f("chan send", stack(append([]string{sb + "server.(*workerPool).submit"}, dispatch...)...), CauseSemaphoreHeld)
	// a pool's worker waiting for a job is a receive like any other; at
	// rest (as at the baseline) DropIdle removes it before any diagnosis.
	f("chan receive", stack("runtime.chanrecv2", sb+"server.startWorkerPool.func1"), CauseUnknown)
	// held semaphore: x/sync based, and a read-write lock.
	f("select", stack(append([]string{"golang.org/x/sync/semaphore.(*Weighted).Acquire", sb + "server.(*Server).upload"}, dispatch...)...), CauseSemaphoreHeld)
	f("sync.RWMutex.RLock", stack(append([]string{"sync.(*RWMutex).RLock", sb + "server.(*Sessions).Get"}, dispatch...)...), CauseSemaphoreHeld)
	// Names decide nothing: a function called like a lock, a limiter or a
	// pool that receives is a receive; a select's cases are unknown here
	// (no source read), so a clock's sleep and a select-acquire alike are
	// unexplained.
	f("chan receive", stack(append([]string{sb + "server.(*limiter).wait"}, dispatch...)...), CauseUnknown)
	f("chan receive", stack(append([]string{sb + "server.(*pool).tryLock"}, dispatch...)...), CauseUnknown)
	f("select", stack(append([]string{sb + "server/clock.Sleep", sb + "server/provider.(*OpenAI).poll"}, dispatch...)...), CauseUnknown)
	f("select", stack(append([]string{sb + "server.(*Server).acquireSlot"}, dispatch...)...), CauseUnknown)
	// a wait nobody names.
	f("chan receive", stack(append([]string{sb + "server.(*Server).waitResult"}, dispatch...)...), CauseUnknown)
	// not waiting, or idle by design.
	f("running", stack(dispatch...), "")
	f("sleep", stack(append([]string{"time.Sleep", sb + "server.(*Server).backoff"}, dispatch...)...), "")
	f("IO wait", stack("internal/poll.(*FD).Read", "os.(*File).Read", "bufio.(*Reader).ReadSlice", sb+"server.(*conn).readLoop", sb+"server.(*Stdio).Serve.func1"), "")
	f("IO wait", stack("internal/poll.(*FD).Read", "net.(*conn).Read", "net/http.(*persistConn).Read", "bufio.(*Reader).Peek", "net/http.(*persistConn).readLoop"), "")
	f("select", stack("net/http.(*persistConn).writeLoop"), "")
	// A serve loop in a select is a wait the rules cannot explain; at rest
	// (as at the baseline) DropIdle removes it before any diagnosis.
	f("select", stack("runtime.selectgo", sb+"server.(*Stdio).Serve", sb+"server.(*Server).ServeStdio", "main.serve.func10"), CauseUnknown)
	// a read loop that dispatches inline and blocks in a file read is no
	// longer idle.
	f("syscall", stack("syscall.openat", "os.OpenFile", sb+"server.loadFileInline", sb+"server.(*conn).readLoop"), CauseBlockingFile)
	// just out of a read(2) and waiting for a P (runnable), or on CPU:
	// still the file read that holds the read loop. A running goroutine
	// outside an I/O call, or in a network write, is not waiting.
	fileRead := []string{"syscall.Syscall", "syscall.read", "internal/poll.(*FD).Read", "os.(*File).Read", sb + "server.readContextOnDispatch", sb + "server.(*conn).dispatch"}
	f("runnable", stack(fileRead...), CauseBlockingFile)
	f("running", stack(fileRead...), CauseBlockingFile)
	f("runnable", stack(fileRead[3:]...), CauseBlockingFile)
	f("runnable", stack(fileRead[4:]...), "")
	f("runnable", stack("syscall.Syscall", "syscall.write", "internal/poll.(*FD).Write", "net.(*conn).Write", sb+"server.(*Server).send"), "")
	// block-profile stacks carry no state.
	f("", stack("runtime.chanrecv1", sb+"server.(*workerPool).enqueue"), CauseUnknown)
	f("", stack("runtime.chansend1", sb+"server.(*workerPool).enqueue"), CauseSemaphoreHeld)
	f("", stack("sync.(*Mutex).Lock", sb+"server.(*Server).lockStore"), CauseSemaphoreHeld)
}

func TestClassifyPath(t *testing.T) {
	f := func(labels map[string]string, st []Frame, want Path, wantComp string) {
		t.Helper()
		p, c := ClassifyPath(labels, st)
		if p != want || c != wantComp {
			t.Errorf("ClassifyPath(%v, %v…) = %s/%s; want %s/%s", labels, st[len(st)-1].Func, p, c, want, wantComp)
		}
	}
	// labels win
	f(map[string]string{"path": "request", "tool": "second_brain"}, stack("main.x"), PathRequest, "second_brain")
	f(map[string]string{"path": "background", "component": "shipper"}, stack("main.x"), PathBackground, "shipper")
	// connection plumbing inherits a request's labels but is not request path
	f(map[string]string{"path": "request"}, stack("net/http.(*persistConn).readLoop"), PathOther, "http-conn")
	// without labels and without a run's index: the server's code serves requests
	f(nil, stack(sb+"server/logship.(*Handler).Handle", "log/slog.(*Logger).log", sb+"server.(*conn).dispatch.func1"), PathRequest, "server")
	f(nil, stack("net/http.(*Client).Do", sb+"server/logship.(*shipCore).run"), PathRequest, "server")
	f(nil, stack(mcpgo+"(*MCPServer).handleToolCall", mcpgo+"(*MCPServer).HandleMessage"), PathRequest, "mcp")
	f(nil, stack("net/http/pprof.handler.ServeHTTP", "net/http.(*conn).serve"), PathOther, "inbound-http")
	f(nil, stack("net/http/pprof.handler.ServeHTTP", "net/http.HandlerFunc.ServeHTTP"), PathOther, "debug")
	f(nil, stack("main.main"), PathOther, "")
	f(nil, stack(sb+"probes.helper"), PathOther, "") // the harness's own code is not the server's
}

// Stacks without labels are placed by what the run's labelled goroutines
// showed, from the root: no server names in the harness.
func TestPathIndex(t *testing.T) {
	bg := map[string]string{"path": "background", "component": "shipper"}
	req := map[string]string{"path": "request", "tool": "t"}
	dumps := []*GoroutineDump{{Goroutines: []Goroutine{
		{Labels: bg, Stack: stack("runtime.selectgo", sb+"server/logship.(*shipCore).run")},
		{Labels: bg, Stack: stack("time.Sleep", sb+"server/vectorstore.(*Manager).loop", sb+"server/vectorstore.(*Manager).Start.func1")},
		{Labels: req, Stack: stack("sync.(*Mutex).Lock", sb+"server/logship.(*shipCore).post", sb+"server.(*conn).dispatch.func1")},
		{Labels: bg, Stack: stack("runtime.selectgo", sb+"server/logship.(*shipCore).post", sb+"server/logship.(*shipCore).run")},
		// plumbing inherits request labels: it teaches nothing
		{Labels: req, Stack: stack("net/http.(*persistConn).readLoop")},
	}}}
	idx := LearnPaths(dumps)
	for _, tc := range []struct {
		st   []Frame
		want Path
	}{
		{stack("net/http.(*Client).Do", sb+"server/logship.(*shipCore).post", sb+"server/logship.(*shipCore).run"), PathBackground},
		{stack("net/http.(*Client).Do", sb+"server/logship.(*shipCore).post", sb+"server.(*conn).dispatch.func1"), PathRequest},
		{stack("runtime.chanrecv1", sb+"server/vectorstore.(*Manager).sweep", sb+"server/vectorstore.(*Manager).Start.func1"), PathBackground},
		// post alone was seen on both paths: the server default applies
		{stack("net/http.(*Client).Do", sb+"server/logship.(*shipCore).post"), PathRequest},
	} {
		if p, _ := ClassifyPathWith(nil, tc.st, idx, ""); p != tc.want {
			t.Errorf("%v: %s, want %s", tc.st[len(tc.st)-1].Func, p, tc.want)
		}
	}
}

func TestCulpritFrame(t *testing.T) {
	st := stack("net/http.(*Transport).getConn", openaio, sb+"server/vectorstore.(*Manager).uploadFile", sb+"server.(*conn).dispatch.func1")
	if got := st[CulpritFrame(st, sb)].Func; got != sb+"server/vectorstore.(*Manager).uploadFile" {
		t.Errorf("module culprit = %s", got)
	}
	if got := st[CulpritFrame(st, "example.com/other/")].Func; got != openaio {
		t.Errorf("non-stdlib culprit = %s", got)
	}
	if got := st[CulpritFrame(st, sb)].Short(); !strings.HasPrefix(got, "vectorstore.(*Manager).uploadFile (") {
		t.Errorf("short = %s", got)
	}
	// A middleware the library calls and that calls back into it is not
	// the culprit; the code that made the request is.
	mw := stack("net/http.(*Transport).getConn", "github.com/openai/openai-go/v3/internal/requestconfig.(*RequestConfig).Execute.func1",
		sb+"server/provider.TraceMiddleware", "github.com/openai/openai-go/v3/internal/requestconfig.(*RequestConfig).Execute",
		openaio, sb+"server/vectorstore.(*Manager).upload.func2", sb+"server/vectorstore.(*Manager).retry")
	if got := mw[CulpritFrame(mw, sb)].Func; got != sb+"server/vectorstore.(*Manager).upload.func2" {
		t.Errorf("culprit past a middleware = %s", got)
	}
	// A tool handler mcp-go calls, waiting on a lock, is the culprit.
	h := stack("sync.(*Mutex).Lock", sb+"server.(*Server).handler", "github.com/mark3labs/mcp-go/server.(*MCPServer).handleToolCall", sb+"server.(*conn).dispatch")
	if got := h[CulpritFrame(h, sb)].Func; got != sb+"server.(*Server).handler" {
		t.Errorf("handler culprit = %s", got)
	}
	if got := CulpritFrame(nil, sb); got != -1 {
		t.Errorf("empty stack culprit = %d", got)
	}
	for fn, want := range map[string]bool{"sync.(*Mutex).Lock": true, "net/http.send": true, "main.main": false,
		"github.com/x/y.F": false, "golang.org/x/sync/semaphore.(*Weighted).Acquire": false} {
		if isStdlib(fn) != want {
			t.Errorf("isStdlib(%s) = %v", fn, !want)
		}
	}
}

func contendedLock(mu *sync.Mutex, hold time.Duration) {
	mu.Lock()
	time.Sleep(hold)
	mu.Unlock()
}

// TestDelta_realBlockProfile takes real block and mutex profiles before and
// after a contended step and checks the delta holds the step's wait only.
func TestDelta_realBlockProfile(t *testing.T) {
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	defer runtime.SetBlockProfileRate(0)
	defer runtime.SetMutexProfileFraction(0)
	fetch := func(name string) []byte {
		var b bytes.Buffer
		if err := pprof.Lookup(name).WriteTo(&b, 0); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var mu sync.Mutex
	contendedLock(&mu, 0) // a stack that exists before the step too
	b0, m0 := fetch("block"), fetch("mutex")
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); contendedLock(&mu, 20*time.Millisecond) }()
	}
	wg.Wait()
	b1, m1 := fetch("block"), fetch("mutex")
	for _, tc := range []struct {
		name          string
		before, after []byte
	}{{"block", b0, b1}, {"mutex", m0, m1}} {
		before, err := ParseProfile(tc.before)
		if err != nil {
			t.Fatal(err)
		}
		after, err := ParseProfile(tc.after)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Delta(before, after)
		if err != nil {
			t.Fatal(err)
		}
		var delay time.Duration
		var count int64
		for _, s := range Samples(d) {
			if anyFrame(s.Stack, "probes.contendedLock") {
				delay += s.Delay
				count += s.Count
			}
			if s.Count < 0 || s.Delay < 0 {
				t.Errorf("%s: negative sample %+v", tc.name, s)
			}
		}
		t.Logf("%s delta: %d contentions, %v delay in contendedLock", tc.name, count, delay)
		// 3 goroutines on a lock held 20 ms each: the waiters waited
		// 20+40 ms at least (block); the unlockers made them wait as much
		// (mutex).
		if count < 2 || delay < 40*time.Millisecond {
			t.Errorf("%s delta = %d contentions, %v; want >= 2 and >= 40ms", tc.name, count, delay)
		}
		if enc, err := EncodeProfile(d); err != nil || len(enc) == 0 {
			t.Errorf("encode delta: %v", err)
		}
	}
	if _, err := Delta(nil, nil); err == nil {
		t.Error("Delta(nil, nil) must fail")
	}
}
