package probes

import (
	"os"
	"strings"
	"testing"
	"time"
)

// parseDump parses a debug=2 goroutine dump or fails the test.
func parseDump(t *testing.T, text []byte) []Goroutine {
	t.Helper()
	gs, err := ParseGoroutines(text)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

// heldLockDump is testdata/stall-held-lock.txt: a call waiting on a mutex,
// a co-waiter, an upload of another call in flight, the goroutine an ended
// call left holding the lock, and a transport read loop.
func heldLockDump(t *testing.T) []Goroutine {
	t.Helper()
	text, err := os.ReadFile("testdata/stall-held-lock.txt")
	if err != nil {
		t.Fatal(err)
	}
	return parseDump(t, text)
}

func TestStallDiagnosis(t *testing.T) {
	gs := heldLockDump(t)
	endedFirst := func(id string) bool { return id == "aaaa0000000000000000000000000001" }
	opts := DiagnoseOptions{ModulePrefix: "example.com/app/"}
	tests := []struct {
		name       string
		trace      string
		ended      func(string) bool
		wantNil    bool
		wantCause  string
		wantFrame  string
		wantHolder string // "" means none named
	}{
		{"waiter and the holder an ended call left behind", "aaaa0000000000000000000000000002", endedFirst,
			false, CauseLockHeld, "server.(*Server).lockHistory", "compactHistoryLater.1 (history.go:133)"},
		// Without knowing the first call ended, the upload of a call in
		// flight that has the lock's owner struct in hand outranks it:
		// which calls have ended is evidence the runner must pass.
		{"ends unknown", "aaaa0000000000000000000000000002", nil,
			false, CauseLockHeld, "server.(*Server).lockHistory", "server.(*Server).upload (upload.go:40)"},
		{"a call with no goroutine in the dump", "bbbb0000000000000000000000000009", endedFirst, true, "", "", ""},
		{"no trace id", "", endedFirst, true, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := StallDiagnosis(gs, nil, tt.trace, 3*time.Second, tt.ended, opts)
			if tt.wantNil {
				if d != nil {
					t.Fatalf("StallDiagnosis = %+v, want nil", d)
				}
				return
			}
			if d == nil {
				t.Fatal("StallDiagnosis = nil")
			}
			if d.Cause != tt.wantCause || !strings.Contains(d.Culprit, tt.wantFrame) {
				t.Errorf("cause %q culprit %q, want %q at %q", d.Cause, d.Culprit, tt.wantCause, tt.wantFrame)
			}
			switch {
			case tt.wantHolder == "" && d.Holder != nil:
				t.Errorf("holder %q, want none", d.Holder.Frame)
			case tt.wantHolder != "" && (d.Holder == nil || !strings.Contains(d.Holder.Frame, tt.wantHolder)):
				t.Errorf("holder %+v, want %q", d.Holder, tt.wantHolder)
			}
			if !strings.Contains(d.Summary, "goroutine 1011") {
				t.Errorf("summary %q does not name the waiting goroutine", d.Summary)
			}
		})
	}
}

func TestHolderOf_CoWaitersAndAddress(t *testing.T) {
	gs := heldLockDump(t)
	var w Goroutine
	for _, g := range gs {
		if g.ID == 1011 {
			w = g
		}
	}
	if a, ok := WaitAddress(w); !ok || a != 0x47802f45c14 {
		t.Fatalf("WaitAddress = %#x, %v; want 0x47802f45c14", a, ok)
	}
	// Only goroutines that cannot hold it: the co-waiter and the reader.
	var rest []Goroutine
	for _, g := range gs {
		if g.ID == 1011 || g.ID == 1012 || g.ID == 55 {
			rest = append(rest, g)
		}
	}
	if h, _, why, ok := HolderOf(rest, w, "example.com/app/", nil); ok {
		t.Errorf("HolderOf named goroutine %d (%s); a co-waiter or an unrelated reader is no holder", h.ID, why)
	}
}

func TestArgWords(t *testing.T) {
	tests := []struct {
		args string
		want []uint64
	}{
		{"0x47802f45c14", []uint64{0x47802f45c14}},
		{"0x1?, 0x2?, 0x3", []uint64{0x3}},
		{"{0x260e010, 0x47803124320}, {0x25f6050?, ...}", []uint64{0x260e010, 0x47803124320}},
		{"_, {_, _}", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := argWords(tt.args)
		if len(got) != len(tt.want) {
			t.Errorf("argWords(%q) = %x, want %x", tt.args, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("argWords(%q) = %x, want %x", tt.args, got, tt.want)
			}
		}
	}
}

func TestFuncReceiver(t *testing.T) {
	tests := map[string]string{
		"example.com/app/server.(*Server).lockHistory":                                         "(*Server)",
		"example.com/app/server.(*Server).chatOnce.deferwrap1.(*Server).compactHistoryLater.1": "(*Server)",
		"example.com/app/server.readContext":                                                   "",
		"example.com/app/server.New.func1":                                                     "",
		"main.(*app).run":                                                                      "(*app)",
	}
	for fn, want := range tests {
		if got := funcReceiver(fn); got != want {
			t.Errorf("funcReceiver(%q) = %q, want %q", fn, got, want)
		}
	}
}

// A call whose goroutine waits in a select for a child of its own, the
// child blocked writing a log line: the child's explained wait is named,
// and the type's idle loop (kin, nothing more) is no holder.
func TestStallDiagnosis_explainedChildNoKinHolder(t *testing.T) {
	const dump = `goroutine 2738 [select labels:{"path": "request", "trace": "cccc0000000000000000000000000001"}]:
example.com/app/store.(*Manager).createStore(0x4780, {0x1, 0x2})
	/src/store/lifecycle.go:429 +0x1
created by example.com/app/server.(*conn).handle in goroutine 9
	/src/server/stdio.go:412 +0x1

goroutine 2740 [syscall labels:{"path": "request", "trace": "cccc0000000000000000000000000001"}]:
syscall.Syscall(0x1, 0x2, 0x3, 0x4)
	/go/src/syscall/syscall_linux.go:73 +0x1
os.(*File).Write(0x4790, {0x1, 0x2, 0x3})
	/go/src/os/file.go:195 +0x1
example.com/app/logship.(*stderrCore).writeSync(0x47a0)
	/src/logship/stderr.go:307 +0x1
log/slog.(*Logger).log(0x47b0, {0x1, 0x2})
	/go/src/log/slog/logger.go:256 +0x1
example.com/app/store.(*Manager).createStore.func1()
	/src/store/lifecycle.go:423 +0x1
created by example.com/app/store.(*Manager).createStore in goroutine 2738
	/src/store/lifecycle.go:420 +0x1

goroutine 50 [select labels:{"path": "background", "component": "lifecycle"}]:
example.com/app/store.(*Manager).loop(0x4780)
	/src/store/lifecycle.go:19 +0x1
created by example.com/app/store.(*Manager).Start in goroutine 1
	/src/store/manager.go:115 +0x1
`
	gs := parseDump(t, []byte(dump))
	d := StallDiagnosis(gs, nil, "cccc0000000000000000000000000001", 2*time.Second, nil, DiagnoseOptions{ModulePrefix: "example.com/app/"})
	if d == nil {
		t.Fatal("StallDiagnosis = nil")
	}
	if d.Cause != CauseStderrWrite || !strings.Contains(d.Culprit, "logship.(*stderrCore).writeSync") {
		t.Errorf("cause %q at %q; want %s at the child's log write", d.Cause, d.Culprit, CauseStderrWrite)
	}
	if d.Holder != nil {
		t.Errorf("holder %q named from kinship alone", d.Holder.Frame)
	}
}

func TestStallDiagnosis_onCPU(t *testing.T) {
	const dump = `goroutine 7 [running labels:{"path": "request", "trace": "dddd0000000000000000000000000001"}]:
crypto/sha256.Sum256({0x1, 0x2, 0x3})
	/go/src/crypto/sha256/sha256.go:200 +0x1
example.com/app/server.(*Server).dedupe(0x4780)
	/src/server/dedupe.go:30 +0x1
created by example.com/app/server.(*conn).handle in goroutine 9
	/src/server/stdio.go:412 +0x1
`
	gs := parseDump(t, []byte(dump))
	d := StallDiagnosis(gs, nil, "dddd0000000000000000000000000001", 2*time.Second, nil, DiagnoseOptions{ModulePrefix: "example.com/app/"})
	if d == nil || d.Cause != CauseRequestCPU || !strings.Contains(d.Culprit, "server.(*Server).dedupe") || d.Holder != nil {
		t.Fatalf("StallDiagnosis = %+v; want %s at server.(*Server).dedupe, no holder", d, CauseRequestCPU)
	}
}

// The call's connection loops (inherited labels) are plumbing, and a
// goroutine on CPU tells more than one sleeping between polls.
func TestStallDiagnosis_plumbingAndSleepAreNotTheStall(t *testing.T) {
	const dump = `goroutine 780 [select labels:{"path": "request", "trace": "eeee0000000000000000000000000001"}]:
net/http.(*persistConn).writeLoop(0x4780)
	/go/src/net/http/transport.go:2652 +0x1
created by net/http.(*Transport).dialConn in goroutine 700
	/go/src/net/http/transport.go:2000 +0x1

goroutine 781 [select labels:{"path": "request", "trace": "eeee0000000000000000000000000001"}]:
example.com/app/server/clock.Sleep({0x1, 0x2}, {0x3, 0x4}, 0x5)
	/src/server/clock/clock.go:44 +0x1
example.com/app/server.(*Server).poll(0x4780)
	/src/server/poll.go:10 +0x1
created by example.com/app/server.(*conn).handle in goroutine 9
	/src/server/stdio.go:412 +0x1

goroutine 782 [runnable labels:{"path": "request", "trace": "eeee0000000000000000000000000001"}]:
example.com/app/server.normalizePrompt({0x1, 0x2})
	/src/server/tools.go:891 +0x1
created by example.com/app/server.(*conn).handle in goroutine 9
	/src/server/stdio.go:412 +0x1
`
	gs := parseDump(t, []byte(dump))
	d := StallDiagnosis(gs, nil, "eeee0000000000000000000000000001", 2*time.Second, nil, DiagnoseOptions{ModulePrefix: "example.com/app/"})
	if d == nil || d.Cause != CauseRequestCPU || !strings.Contains(d.Culprit, "normalizePrompt") {
		t.Fatalf("StallDiagnosis = %+v; want %s at normalizePrompt", d, CauseRequestCPU)
	}
	// Without the busy goroutine, the sleep is where the call stalls.
	d = StallDiagnosis(gs[:2], nil, "eeee0000000000000000000000000001", 2*time.Second, nil, DiagnoseOptions{ModulePrefix: "example.com/app/"})
	if d == nil || !strings.Contains(d.Culprit, "clock.Sleep") {
		t.Fatalf("StallDiagnosis = %+v; want the sleep", d)
	}
}

// A stalled call whose wait to send is its own fan-out's bound (goroutines
// it started still run) is named where its children wait, not as a held
// semaphore.
func TestStallDiagnosis_fanOutIsNoStall(t *testing.T) {
	const trace = "ffff0000000000000000000000000001"
	lbl := map[string]string{LabelPath: "request", LabelTrace: trace}
	up := "example.com/app/server.(*Manager).uploadAll"
	gs := []Goroutine{
		{ID: 10, State: "chan send", Labels: lbl, Stack: []Frame{{Func: up, File: "/x/upload.go", Line: 40}}},
		{ID: 11, State: "chan receive", Labels: lbl, CreatorID: 10, CreatedBy: &Frame{Func: up},
			Stack: []Frame{{Func: "example.com/app/server.(*Manager).record", File: "/x/db.go", Line: 9},
				{Func: up + ".func1", File: "/x/upload.go", Line: 44}}},
	}
	d := StallDiagnosis(gs, nil, trace, 3*time.Second, nil, DiagnoseOptions{ModulePrefix: "example.com/app/"})
	if d == nil || d.Cause != CauseUnknown || !strings.Contains(d.Culprit, "(*Manager).record") {
		t.Fatalf("diagnosis = %+v; want the child's wait", d)
	}
}
