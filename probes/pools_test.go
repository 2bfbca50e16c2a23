package probes

import (
	"strings"
	"testing"
	"time"
)

func TestPools_busyWorkers(t *testing.T) {
	creator := &Frame{Func: sb + "server.start", File: "/x/s.go", Line: 3}
	idle := func(id int64) Goroutine {
		return Goroutine{ID: id, State: "chan receive", CreatedBy: creator, Stack: stack(sb + "server.work")}
	}
	req := map[string]string{LabelPath: "request", LabelTool: "t"}
	bg := map[string]string{LabelPath: "background", LabelComponent: "shipper"}
	busy := func(id int64, labels map[string]string) Goroutine {
		return Goroutine{ID: id, State: "select", Labels: labels, CreatedBy: creator,
			Stack: stack("net/http.(*persistConn).roundTrip", sb+"server.call", sb+"server.work")}
	}
	base := []Goroutine{idle(1), idle(2),
		{ID: 3, State: "IO wait", Stack: stack("internal/poll.(*FD).Read", sb+"server.readLoop")}}
	tests := []struct {
		name string
		now  []Goroutine
		want int
	}{
		{"both workers serve requests: exhausted", []Goroutine{busy(1, req), busy(2, req)}, 2},
		{"one idle: not exhausted", []Goroutine{busy(1, req), idle(2)}, 0},
		{"one gone: not exhausted", []Goroutine{busy(1, req)}, 0},
		{"busy with background work: no pool of requests", []Goroutine{busy(1, bg), busy(2, bg)}, 0},
		{"idle at the baseline but not receiving: no worker", []Goroutine{busy(1, req), busy(2, req), busy(3, req)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findPools(base, nil).busyWorkers(tt.now, nil); len(got) != tt.want {
				t.Errorf("busy workers = %d; want %d", len(got), tt.want)
			}
		})
	}
	if got := findPools(nil, nil).busyWorkers([]Goroutine{busy(1, req)}, nil); got != nil {
		t.Errorf("no receiver ever seen: busy workers %v", got)
	}
	// The baseline caught the one worker mid-job; a later dump shows it
	// idle: it is a worker all the same.
	later := []*GoroutineDump{{Goroutines: []Goroutine{idle(1)}}}
	if got := findPools([]Goroutine{busy(1, req)}, later).busyWorkers([]Goroutine{busy(1, req)}, nil); len(got) != 1 {
		t.Errorf("worker seen idle only after the baseline: busy workers %v", got)
	}
	// A request's own goroutine receiving (labelled) is no worker.
	reqWait := Goroutine{ID: 9, State: "chan receive", Labels: req, CreatedBy: creator, Stack: stack(sb + "server.work")}
	if got := findPools([]Goroutine{reqWait}, nil).busyWorkers([]Goroutine{busy(9, req)}, nil); got != nil {
		t.Errorf("a request waiting for its result taken for a worker: %v", got)
	}
}

func TestSendCause(t *testing.T) {
	w := Goroutine{ID: 7, Labels: map[string]string{LabelTrace: "t1"}}
	fanOut := Goroutine{ID: 9, State: "select", Stack: stack(sb + "server.(*M).uploadAll")}
	child := Goroutine{ID: 10, State: "select", CreatorID: 9, CreatedBy: &Frame{Func: sb + "server.(*M).uploadAll"},
		Stack: stack("net/http.(*persistConn).roundTrip", sb+"server.(*M).uploadAll.func1")}
	other := Goroutine{ID: 11, CreatorID: 9, CreatedBy: &Frame{Func: sb + "server.(*M).progress"}}
	tests := []struct {
		name    string
		g       Goroutine
		gs      []Goroutine
		workers []Goroutine
		want    string
	}{
		{"waiter beside a busy pool", Goroutine{ID: 9}, nil, []Goroutine{w}, CauseWorkerPool},
		{"a worker's own send", w, nil, []Goroutine{w}, CauseSemaphoreHeld},
		{"work of the call a worker serves", Goroutine{ID: 12, Labels: map[string]string{LabelTrace: "t1"}}, nil, []Goroutine{w}, CauseSemaphoreHeld},
		{"no pool", Goroutine{ID: 9}, nil, nil, CauseSemaphoreHeld},
		{"slots held by its own fan-out", fanOut, []Goroutine{fanOut, child}, []Goroutine{w}, ""},
		{"children of another function hold nothing", fanOut, []Goroutine{fanOut, other}, nil, CauseSemaphoreHeld},
	}
	for _, tt := range tests {
		if got := sendCause(tt.g, tt.gs, tt.workers); got != tt.want {
			t.Errorf("%s: sendCause = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestClosureParent(t *testing.T) {
	for fn, want := range map[string]string{
		sb + "server/vectorstore.(*Manager).uploadAll.func1":   sb + "server/vectorstore.(*Manager).uploadAll",
		sb + "server/vectorstore.(*Manager).uploadAll.func1.2": sb + "server/vectorstore.(*Manager).uploadAll",
		sb + "server.serve.gowrap3":                            sb + "server.serve",
		sb + "server.(*conn).dispatch":                         "",
		sb + "server.(*funcTable).run":                         "",
		"main.main.func2":                                      "main.main",
	} {
		got, ok := closureParent(fn)
		if got != want || ok != (want != "") {
			t.Errorf("closureParent(%q) = %q, %v; want %q", fn, got, ok, want)
		}
	}
}

// A profile's wait to send in a function whose closures run as goroutines
// of the same evidence is a fan-out's own bound, not a held semaphore.
func TestDiagnose_profileFanOutIsNoWait(t *testing.T) {
	vs := sb + "server/vectorstore.(*Manager)."
	ev := Evidence{Block: []StackSample{
		{Delay: 400 * time.Millisecond, Count: 60, Labels: map[string]string{LabelPath: "request"},
			Stack: []Frame{{Func: "runtime.chansend1"}, {Func: vs + "uploadAll", File: "/x/upload.go", Line: 460}}},
		{Delay: 300 * time.Millisecond, Count: 5, Labels: map[string]string{LabelPath: "request"},
			Stack: []Frame{{Func: "net/http.(*persistConn).roundTrip"}, {Func: vs + "upload", File: "/x/upload.go", Line: 520},
				{Func: vs + "uploadAll.func1", File: "/x/upload.go", Line: 470}, {Func: "runtime.goexit"}}},
	}}
	d := Diagnose(ev, DiagnoseOptions{})
	for _, f := range d.Frames {
		if strings.Contains(f.Frame, "uploadAll (") {
			t.Errorf("the fan-out's bound was ranked: %+v", f)
		}
	}
}

// A wait to send into a pool is the pool's in every dump once one dump saw
// all its workers serving requests: in the others a worker between two
// jobs hid the pool, and the waits there were ranked apart as a held
// semaphore — which outweighed the pool's and named the wrong cause (the
// worker-pool canary, once in four CI runs).
func TestDiagnose_poolWaitAcrossDumps(t *testing.T) {
	creator := &Frame{Func: sb + "server.startPool", File: "/x/p.go", Line: 3}
	req := func(trace string) map[string]string {
		return map[string]string{LabelPath: "request", LabelTool: "t", LabelTrace: trace}
	}
	idle := Goroutine{ID: 1, State: "chan receive", CreatedBy: creator, Stack: stack(sb + "server.worker")}
	working := Goroutine{ID: 1, State: "select", Labels: req("a"), CreatedBy: creator,
		Stack: stack("net/http.(*persistConn).roundTrip", sb+"server.call", sb+"server.worker")}
	waiter := func(id int64) Goroutine {
		return Goroutine{ID: id, State: "chan send", Labels: req("b"), Wait: time.Second,
			Stack: []Frame{{Func: "runtime.chansend1"}, {Func: sb + "server.(*pool).submit", File: "/x/p.go", Line: 54},
				{Func: sb + "server.handle", File: "/x/h.go", Line: 9}}}
	}
	t0 := time.Now()
	ev := Evidence{Baseline: []Goroutine{idle}, Dumps: []*GoroutineDump{
		{At: t0, Goroutines: []Goroutine{idle, waiter(5), waiter(6)}},                            // between jobs
		{At: t0.Add(80 * time.Millisecond), Goroutines: []Goroutine{idle, waiter(5), waiter(6)}}, // between jobs
		{At: t0.Add(160 * time.Millisecond), Goroutines: []Goroutine{working, waiter(5)}},        // the pool busy
	}}
	d := Diagnose(ev, DiagnoseOptions{})
	if d == nil || d.Cause != CauseWorkerPool {
		t.Fatalf("diagnosis %+v: want %s", d, CauseWorkerPool)
	}
	for _, f := range d.Frames {
		if f.Cause == CauseSemaphoreHeld {
			t.Errorf("the pool's send also ranked as a held semaphore: %+v", f)
		}
	}
}
