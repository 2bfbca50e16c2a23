package probes

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/trace"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Request-path stand-ins for the flight-recorder test: each is its own
// frame, passed alone as RequestMarker, so that a diagnosis sees one of
// them at a time.
func traceReadRequest(fd int) {
	b := make([]byte, 1)
	_, _ = syscall.Read(fd, b) // a true blocking read(2), not the netpoller
}

func traceLockRequest(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock() //nolint:staticcheck // only the wait for the lock matters
}

func traceSleepRequest(d time.Duration) { time.Sleep(d) }

// sumWaits adds the waits in state whose stack holds fn.
func sumWaits(ws []TraceWait, state, fn string) (time.Duration, int64) {
	var d time.Duration
	var n int64
	for _, w := range ws {
		if w.State == state && anyFrame(w.Stack, fn) {
			d += w.Delay
			n += w.Count
		}
	}
	return d, n
}

func writeWindow(t *testing.T, fr *trace.FlightRecorder) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := fr.WriteTo(&b); err != nil {
		t.Fatalf("cannot write the flight-recorder window: %v", err)
	}
	return b.Bytes()
}

// TestParseTraceWaits_flightRecorder records a real go1.26 window in this
// process while one request-path goroutine blocks in read(2), one queues
// on a held sync.Mutex and one sleeps; the first window is taken while
// they still wait, the second after. Durations are asserted from below
// only: the trace can only see more of a wait than the test observed.
// Not parallel: a process has one trace at a time.
func TestParseTraceWaits_flightRecorder(t *testing.T) {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{})
	if err := fr.Start(); err != nil {
		t.Fatalf("cannot start the flight recorder: %v", err)
	}
	defer fr.Stop()

	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Close(p[0]); _ = syscall.Close(p[1]) }()
	var mu sync.Mutex
	mu.Lock()
	const hold = 100 * time.Millisecond
	var wg sync.WaitGroup
	asRequest(&wg, "read", func(context.Context) { traceReadRequest(p[0]) })
	asRequest(&wg, "lock", func(context.Context) { traceLockRequest(&mu) })
	asRequest(&wg, "sleep", func(context.Context) { traceSleepRequest(2 * hold) })
	waitFor(t, 1, "probes.traceReadRequest", "syscall")
	waitFor(t, 1, "probes.traceLockRequest", "sync.Mutex.Lock")
	waitFor(t, 1, "probes.traceSleepRequest", "sleep")
	blocked := time.Now() // all three wait from here on, at the latest

	time.Sleep(hold / 2)
	openFor := time.Since(blocked)
	win1 := writeWindow(t, fr)
	time.Sleep(hold - time.Since(blocked))
	heldFor := time.Since(blocked)
	if _, err := syscall.Write(p[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	mu.Unlock()
	wg.Wait()
	win2 := writeWindow(t, fr)

	w1, end1, err := ParseTraceWaits(win1, 0)
	if err != nil {
		t.Fatalf("cannot parse a go1.26 flight-recorder window: %v", err)
	}
	if end1 == 0 || len(w1) == 0 {
		t.Fatalf("window 1: end %d, %d waits", end1, len(w1))
	}
	whole, _, err := ParseTraceWaits(win2, 0)
	if err != nil {
		t.Fatal(err)
	}
	rest, _, err := ParseTraceWaits(win2, end1)
	if err != nil {
		t.Fatal(err)
	}
	merged := MergeTraceWaits(append([]TraceWait(nil), w1...), rest)

	cases := []struct {
		name, fn, state string
		wantCause       string // "" : not diagnosed
	}{
		{"blocking read", "probes.traceReadRequest", TraceStateSyscall, CauseBlockingFile},
		{"queued on a mutex", "probes.traceLockRequest", "sync", CauseSemaphoreHeld},
		{"sleeping", "probes.traceSleepRequest", "sleep", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Still waiting when window 1 ended: counted up to its end.
			if d, n := sumWaits(w1, tc.state, tc.fn); d < openFor*8/10 || n != 1 {
				t.Errorf("window 1: %s in %s waited %v in %d waits; want >= %v in 1", tc.state, tc.fn, d, n, openFor*8/10)
			}
			if tc.wantCause != "" {
				if d, _ := sumWaits(whole, tc.state, tc.fn); d < heldFor*8/10 {
					t.Errorf("window 2: %s in %s waited %v; want >= %v", tc.state, tc.fn, d, heldFor*8/10)
				}
				// Window 2 overlaps window 1: counted after end1 only, the
				// wait open across both is one wait, not two.
				if d, n := sumWaits(merged, tc.state, tc.fn); d < heldFor*8/10 || n != 1 {
					t.Errorf("merged: %s in %s waited %v in %d waits; want >= %v in 1", tc.state, tc.fn, d, n, heldFor*8/10)
				}
			}

			diag := Diagnose(Evidence{Trace: whole}, DiagnoseOptions{RequestMarkers: []string{tc.fn}})
			if tc.wantCause == "" {
				if diag != nil {
					t.Fatalf("diagnosed a sleep: %+v", diag)
				}
				return
			}
			if diag == nil {
				t.Fatal("no diagnosis")
			}
			if diag.Cause != tc.wantCause || !strings.Contains(diag.Culprit, tc.fn) || diag.Frames[0].Source != "trace" {
				t.Fatalf("diagnosis = %s at %s (source %s); want %s at %s from the trace",
					diag.Cause, diag.Culprit, diag.Frames[0].Source, tc.wantCause, tc.fn)
			}
			for _, f := range diag.Frames {
				if !strings.Contains(f.Frame, tc.fn) {
					t.Errorf("another goroutine on the request path: %+v", f)
				}
			}
			t.Logf("%s", diag.Summary)
		})
	}
}

func TestParseTraceWaits_notATrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("go 1.26 trace\x00\x00\x00 but not really")},
		{"text", []byte("not a trace at all")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, end, err := ParseTraceWaits(tc.data, 0)
			if err == nil || len(ws) != 0 || end != 0 {
				t.Errorf("= %d waits, end %d, err %v; want an error alone", len(ws), end, err)
			}
		})
	}
}

func TestTraceState(t *testing.T) {
	stack := func(fns ...string) []Frame {
		var s []Frame
		for _, f := range fns {
			s = append(s, Frame{Func: f})
		}
		return s
	}
	for _, tc := range []struct {
		state string
		stack []Frame
		want  string
		ok    bool
	}{
		{TraceStateSyscall, stack("syscall.read"), "syscall", true},
		{"chan receive", nil, "chan receive", true},
		{"chan send", nil, "chan send", true},
		{"select", nil, "select", true},
		{"sync", stack("sync.(*Mutex).Lock", "main.f"), "sync.Mutex.Lock", true},
		{"sync", stack("internal/sync.(*Mutex).Lock", "sync.(*Mutex).Lock"), "sync.Mutex.Lock", true},
		{"sync", stack("sync.(*RWMutex).Lock"), "sync.RWMutex.Lock", true},
		{"sync", stack("sync.(*RWMutex).RLock"), "sync.RWMutex.RLock", true},
		{"sync", stack("sync.(*WaitGroup).Wait"), "sync.WaitGroup.Wait", true},
		{"sync", stack("golang.org/x/sync/semaphore.(*Weighted).Acquire"), "semacquire", true},
		{"sync.(*Cond).Wait", nil, "sync.Cond.Wait", true},
		{"network", nil, "IO wait", true},
		{"forever", stack("runtime.chanrecv1"), "chan receive (nil chan)", true},
		{"forever", stack("runtime.block"), "select (no cases)", true},
		{"unspecified", nil, "", true},
		{"", nil, "", true},
		{"sleep", nil, "", false},
		{"system goroutine wait", nil, "", false},
		{"GC mark assist wait for work", nil, "", false},
		{"preempted", nil, "", false},
		// An allocation's GC assist parks on the collector's semaphore.
		{"sync", stack("runtime.gcMarkDone", "runtime.gcAssistAlloc", "runtime.deductAssistCredit",
			"runtime.mallocgc", "runtime.newobject", "context.WithValue", "server.(*conn).handle"), "", false},
		{"sync", stack("runtime.gcMarkDone", "runtime.gcAssistAlloc", "runtime.mallocgc", "os.newFile", "os.OpenFile"), "", false},
		// runtime frames of the application's own wait are no GC.
		{"chan receive", stack("runtime.chanrecv1", "main.f"), "chan receive", true},
		{"sync", stack("main.gcSomething", "runtime.mallocgc"), "semacquire", true},
	} {
		got, ok := TraceState(TraceWait{State: tc.state, Stack: tc.stack})
		if got != tc.want || ok != tc.ok {
			t.Errorf("TraceState(%q, %v) = %q, %v; want %q, %v", tc.state, tc.stack, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReasonFromStack(t *testing.T) {
	for _, tc := range []struct {
		fns  []string
		want string
	}{
		{[]string{"runtime.gopark", "runtime.chanrecv", "runtime.chanrecv1", "main.f"}, "chan receive"},
		{[]string{"runtime.gopark", "runtime.chansend", "runtime.chansend1"}, "chan send"},
		{[]string{"runtime.gopark", "runtime.selectgo", "main.f"}, "select"},
		{[]string{"runtime.gopark", "runtime.block"}, "forever"},
		{[]string{"runtime.gopark", "internal/sync.runtime_SemacquireMutex", "internal/sync.(*Mutex).lockSlow"}, "sync"},
		{[]string{"runtime.gopark", "sync.runtime_notifyListWait", "sync.(*Cond).Wait"}, "sync.(*Cond).Wait"},
		{[]string{"runtime.gopark", "runtime.netpollblock", "internal/poll.runtime_pollWait"}, "network"},
		{[]string{"runtime.gopark", "time.Sleep", "main.f"}, "sleep"},
		{[]string{"runtime.gopark", "runtime.forcegchelper"}, ""},
	} {
		var s []Frame
		for _, f := range tc.fns {
			s = append(s, Frame{Func: f})
		}
		if got := reasonFromStack(s); got != tc.want {
			t.Errorf("reasonFromStack(%v) = %q; want %q", tc.fns, got, tc.want)
		}
	}
}

func TestMergeTraceWaits(t *testing.T) {
	read := []Frame{{Func: "syscall.read", Line: 1}, {Func: "main.load", Line: 9}}
	readOther := []Frame{{Func: "syscall.read", Line: 1}, {Func: "main.load", Line: 12}}
	a := []TraceWait{{State: "syscall", Count: 2, Delay: 30 * time.Millisecond, Stack: read}}
	b := []TraceWait{
		{State: "syscall", Count: 1, Delay: 50 * time.Millisecond, Stack: read},
		{State: "syscall", Count: 1, Delay: 90 * time.Millisecond, Stack: readOther},
		{State: "sync", Count: 4, Delay: 10 * time.Millisecond, Stack: read},
	}
	got := MergeTraceWaits(a, b)
	want := []TraceWait{
		{State: "syscall", Count: 1, Delay: 90 * time.Millisecond, Stack: readOther},
		{State: "syscall", Count: 3, Delay: 80 * time.Millisecond, Stack: read},
		{State: "sync", Count: 4, Delay: 10 * time.Millisecond, Stack: read},
	}
	if len(got) != len(want) {
		t.Fatalf("merged = %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.State != w.State || g.Count != w.Count || g.Delay != w.Delay || g.Stack[1].Line != w.Stack[1].Line {
			t.Errorf("merged[%d] = %+v; want %+v", i, g, w)
		}
	}
}

// TestStepOnBreach_badTrace: a window that cannot be parsed is reported,
// and still saved for `go tool trace`.
func TestStepOnBreach_badTrace(t *testing.T) {
	garbage := []byte("not a trace")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/flightrecorder" {
			_, _ = w.Write(garbage)
			return
		}
		http.Error(w, "no profiles here", http.StatusNotFound)
	}))
	defer srv.Close()
	c := NewDebugClient(srv.URL, nil)
	defer c.Close()
	step := &Step{c: c, name: "bad"}
	err := step.OnBreach(t.Context(), 0)
	if err == nil || !strings.Contains(err.Error(), "cannot parse the flight-recorder window") {
		t.Fatalf("err = %v; want the parse error joined", err)
	}
	if tr := step.Evidence().Trace; len(tr) != 0 {
		t.Errorf("trace waits = %+v", tr)
	}
	paths, err := step.SaveProfiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var saved bool
	for _, p := range paths {
		if filepath.Ext(p) == ".trace" {
			b, err := os.ReadFile(p)
			saved = err == nil && bytes.Equal(b, garbage)
		}
	}
	if !saved {
		t.Errorf("raw window not saved: %v", paths)
	}
}
