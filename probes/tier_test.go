package probes

import (
	"strings"
	"testing"
	"time"
)

// TestDiagnose_tiers: a canary's named cause must not be buried under the
// larger waits every model call makes on its (deliberately slow) provider,
// but an incidental few-ms lock wait must not outrank a real upstream stall.
func TestDiagnose_tiers(t *testing.T) {
	t.Parallel()
	req := map[string]string{"path": "request"}
	upstream := StackSample{Count: 170, Delay: 2600 * time.Millisecond, Labels: req, Stack: stack(
		"net/http.(*persistConn).roundTrip", "net/http.(*Transport).roundTrip", "net/http.(*Client).do", openaio,
		sb+"server/vectorstore.(*Manager).upload.func2")}
	logIO := func(d time.Duration) StackSample {
		return StackSample{Count: 5, Delay: d, Labels: req, Stack: stack(
			"net/http.(*persistConn).roundTrip", "net/http.(*Client).do", "net/http.(*Client).Post",
			sb+"server/logship.(*Shipper).Handle", "log/slog.(*Logger).log", sb+"server.(*Server).chat")}
	}
	unknown := StackSample{Count: 1, Delay: 5 * time.Second, Labels: req, Stack: stack(
		"runtime.chanrecv1", sb+"server.(*Server).waitResult")}
	cases := []struct {
		name    string
		block   []StackSample
		want    string
		culprit string
	}{
		{"named cause above upstream", []StackSample{upstream, logIO(415 * time.Millisecond), unknown},
			CauseLogShippingIO, "logship.(*Shipper).Handle"},
		{"incidental named wait stays below", []StackSample{upstream, logIO(3 * time.Millisecond)},
			CauseSlowUpstream, "vectorstore.(*Manager).upload.func2"},
		{"upstream above unknown", []StackSample{unknown, upstream}, CauseSlowUpstream, "vectorstore.(*Manager).upload.func2"},
	}
	for _, c := range cases {
		d := Diagnose(Evidence{Block: c.block}, DiagnoseOptions{})
		if d == nil || d.Cause != c.want || !strings.HasPrefix(d.Culprit, c.culprit+" (") {
			t.Errorf("%s: diagnosis %+v; want %s at %s", c.name, d, c.want, c.culprit)
		}
	}
}

func TestLongBlockWaits(t *testing.T) {
	t.Parallel()
	req := map[string]string{"path": "request"}
	idx := LearnPaths([]*GoroutineDump{{Goroutines: []Goroutine{
		{Labels: map[string]string{"path": "background"}, Stack: stack("runtime.selectgo", sb+"server/logship.(*shipCore).run")}}}})
	logStack := stack("net/http.(*persistConn).roundTrip", "net/http.(*Client).do",
		sb+"server/logship.(*Shipper).Handle", "log/slog.(*Logger).log", sb+"server.(*Server).chat")
	f := func(samples []StackSample, want int) {
		t.Helper()
		if got := LongBlockWaits(samples, idx, 50*time.Millisecond, CauseLogShippingIO, CauseStderrWrite); got != want {
			t.Errorf("LongBlockWaits = %d; want %d", got, want)
		}
	}
	// five 83 ms waits on a slow sink (a 5 s stall at 60×)
	f([]StackSample{{Count: 5, Delay: 415 * time.Millisecond, Labels: req, Stack: logStack}}, 1)
	// many short waits adding up to more than the bound
	f([]StackSample{{Count: 100, Delay: 415 * time.Millisecond, Labels: req, Stack: logStack}}, 1)
	// a few µs per record, as an async handler's channel send
	f([]StackSample{{Count: 100, Delay: 2 * time.Millisecond, Labels: req, Stack: logStack}}, 0)
	// the shipper's own goroutine is background: not counted
	f([]StackSample{{Count: 1, Delay: time.Second, Labels: map[string]string{"path": "background"}, Stack: logStack}}, 0)
	// a long wait that is not log shipping
	f([]StackSample{{Count: 1, Delay: time.Second, Labels: req, Stack: stack("sync.(*Mutex).Lock", sb+"server.(*Server).chat")}}, 0)
	// an unlabelled stack rooted where the run's dumps saw the shipper
	// (path=background) is the shipper's: not counted
	shipper := stack("net/http.(*persistConn).roundTrip", "net/http.(*Client).do", sb+"server/logship.(*shipCore).post", sb+"server/logship.(*shipCore).run")
	f([]StackSample{{Count: 1, Delay: time.Second, Stack: shipper}}, 0)
}

// TestDiagnose_fileReadLoop is the blocking-file-io canary as a CI run saw
// it: the read loop reads context files one by one with O_DIRECT, so 11
// dumps 80 ms apart catch it in read(2), just out of it (runnable), or in
// os.(*File).Read — never twice with the same state and leaf. Meanwhile
// the calls it dispatched earlier wait on the (slow) upstream and the conn
// pool. The file reads must still be the culprit: the goroutine sat in them
// for the whole 800 ms.
func TestDiagnose_fileReadLoop(t *testing.T) {
	t.Parallel()
	req := map[string]string{"path": "request"}
	caller := []string{sb + "server.readContextOnDispatch", sb + "server.(*conn).dispatch", sb + "server.(*Stdio).Serve", "main.serve.func10"}
	inRead := stack(append([]string{"syscall.Syscall", "syscall.read", "internal/poll.(*FD).Read", "os.(*File).Read"}, caller...)...)
	inFileRead := stack(append([]string{"os.(*File).Read"}, caller...)...)
	inOpen := stack(append([]string{"syscall.Syscall6", "syscall.openat", "os.open", "os.OpenFile", "os.Open"}, caller...)...)
	t0 := time.Unix(1e9, 0)
	var dumps []*GoroutineDump
	for i, g := range []struct {
		state string
		stack []Frame
	}{
		{"runnable", inRead}, {"syscall", inRead}, {"runnable", inRead}, {"syscall", inOpen}, {"runnable", inRead},
		{"runnable", inFileRead}, {"running", inRead}, {"syscall", inRead}, {"runnable", inRead}, {"runnable", inRead}, {"syscall", inRead},
	} {
		dumps = append(dumps, &GoroutineDump{At: t0.Add(time.Duration(i) * 80 * time.Millisecond), Goroutines: []Goroutine{
			{ID: 57, State: g.state, Stack: g.stack},
		}})
	}
	connPool := StackSample{Count: 73, Delay: 427 * time.Millisecond, Labels: req, Stack: stack(
		"runtime.selectgo", "net/http.(*Transport).getConn", "net/http.(*Transport).roundTrip", "net/http.(*Client).do", openaio,
		sb+"server/vectorstore.(*Manager).upload.func2")}
	upstream := StackSample{Count: 170, Delay: 830 * time.Millisecond, Labels: req, Stack: stack(
		"net/http.(*persistConn).roundTrip", "net/http.(*Transport).roundTrip", "net/http.(*Client).do", openaio,
		sb+"server/vectorstore.(*Manager).upload.func2")}
	d := Diagnose(Evidence{Dumps: dumps, Block: []StackSample{connPool, upstream}},
		DiagnoseOptions{RequestMarkers: []string{"server.(*conn).dispatch"}})
	if d == nil || d.Cause != CauseBlockingFile || !strings.HasPrefix(d.Culprit, "server.readContextOnDispatch (") {
		t.Fatalf("diagnosis %+v; want %s at server.readContextOnDispatch", d, CauseBlockingFile)
	}
	if w := d.Frames[0].WaitMS; w < 800 {
		t.Errorf("file-read wait = %.0f ms; want the 800 ms the dumps span", w)
	}
}
