package probes

import (
	"strings"
	"testing"
)

func g(id int64, created string, stack ...string) Goroutine {
	out := Goroutine{ID: id, State: "chan receive", CreatedBy: &Frame{Func: created, File: "/src/x.go", Line: 10}}
	for _, f := range stack {
		out.Stack = append(out.Stack, Frame{Func: f, File: "/src/y.go", Line: 20})
	}
	return out
}

func TestGoroutineSurplus(t *testing.T) {
	shipper := g(1, "example.com/app/logship.Start", "runtime.gopark", "example.com/app/logship.(*Shipper).loop")
	worker := g(2, "example.com/app/server.(*S).handle", "runtime.gopark", "sync.(*Cond).Wait", "example.com/app/server.(*queue).pop")
	other := g(3, "example.com/app/server.(*S).handle", "runtime.gopark", "sync.(*Cond).Wait", "example.com/app/memory.(*W).next")
	conn := g(4, "net/http.(*Transport).dialConn", "runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).readLoop")
	f := func(base, now []Goroutine, want ...string) {
		t.Helper()
		got := GoroutineSurplus(base, now)
		var s []string
		for _, l := range got {
			s = append(s, l.String())
		}
		if len(s) != len(want) {
			t.Fatalf("surplus %q; want %d kinds %q", s, len(want), want)
		}
		for i := range want {
			if !strings.Contains(s[i], want[i]) {
				t.Errorf("kind %d = %q; want it to contain %q", i, s[i], want[i])
			}
		}
	}
	with := func(gr Goroutine, id int64) Goroutine { gr.ID = id; return gr }
	f(nil, nil)
	f([]Goroutine{shipper, worker}, []Goroutine{shipper, worker})
	// The same goroutine waiting elsewhere now is not a leak.
	moved := worker
	moved.Stack = moved.Stack[:2]
	f([]Goroutine{shipper, worker}, []Goroutine{shipper, moved})
	// Same count, different goroutines: the one that ended hides nothing.
	f([]Goroutine{shipper, worker}, []Goroutine{shipper, other},
		"1× created by server.(*S).handle (x.go:10), parked in memory.(*W).next (y.go:20)")
	// A new goroutine of the kind of one that ended replaced it.
	f([]Goroutine{shipper, worker}, []Goroutine{shipper, with(worker, 9)})
	// Fewer is not a leak; more of one kind is, by how many.
	f([]Goroutine{shipper, worker}, []Goroutine{worker, with(worker, 7), with(worker, 8)},
		"2× created by server.(*S).handle (x.go:10), parked in server.(*queue).pop")
	// An all-standard-library stack is keyed by its first frame outside
	// the runtime.
	f(nil, []Goroutine{conn}, "parked in http.(*persistConn).readLoop")
	// A goroutine started through a spawning helper is named by the
	// function the helper ran, not by the helper.
	spawned := g(5, "sync.(*WaitGroup).Go", "runtime.gopark", "example.com/app/clock.Sleep",
		"example.com/app/server.(*S).compactLater.1", "sync.(*WaitGroup).Go.func1")
	f(nil, []Goroutine{spawned}, "1× created by server.(*S).compactLater.1 (y.go:20), parked in clock.Sleep")
	l := GoroutineSurplus(nil, []Goroutine{other})[0]
	if l.Example != 3 || len(l.Stack) != 3 || l.State != "chan receive" {
		t.Errorf("leak %+v; want goroutine 3 with its 3-frame stack and state", l)
	}
}

func TestFDSurplus(t *testing.T) {
	base := map[string]int{"socket": 4, "pipe": 2, "/tmp/sb.db": 1}
	after := map[string]int{"socket": 4, "pipe": 2, "/tmp/sb.db": 1, "/p/module_001.go": 2, "anon_inode:[eventpoll]": 1}
	got := FDSurplus(base, after)
	if len(got) != 2 || got[0].String() != "+2 /p/module_001.go" || got[1].String() != "+1 anon_inode:[eventpoll]" {
		t.Fatalf("surplus = %v", got)
	}
	if got := FDSurplus(after, base); len(got) != 0 {
		t.Fatalf("fewer than the baseline is no surplus: %v", got)
	}
	// The leak check names what leaked.
	c := DefaultThresholds().Evaluate(Measurements{Leak: &LeakResult{BaselineFDs: 7, FDs: 9, LeakedFDs: 2,
		FDKinds: []LeakedFD{{Target: "/p/module_001.go", Extra: 2}}}})
	for _, ch := range c {
		if ch.Name == "leak.fds" && (ch.Pass || !strings.Contains(ch.Detail, "+2 /p/module_001.go")) {
			t.Errorf("leak.fds = %+v", ch)
		}
	}
}

func TestDropIdle(t *testing.T) {
	loop := g(1, "example.com/app/server.New", "runtime.gopark", "example.com/app/server.(*T).serve")
	worker := g(2, "example.com/app/server.New", "runtime.gopark", "example.com/app/server.(*T).work")
	busy := worker
	busy.Stack = append([]Frame{{Func: "sync.(*Mutex).Lock"}}, worker.Stack...)
	fresh := g(3, "example.com/app/server.(*T).serve", "runtime.gopark", "example.com/app/server.(*T).handle")
	base := []Goroutine{loop, worker}
	d := &GoroutineDump{Goroutines: []Goroutine{loop, busy, fresh}}
	got := DropIdle([]*GoroutineDump{d}, base)
	var ids []int64
	for _, g := range got[0].Goroutines {
		ids = append(ids, g.ID)
	}
	// The loop at rest goes; the worker now elsewhere and the new one stay.
	if len(ids) != 2 || ids[0] != 2 || ids[1] != 3 {
		t.Errorf("DropIdle kept %v; want [2 3]", ids)
	}
	if len(d.Goroutines) != 3 {
		t.Errorf("DropIdle changed its input: %d goroutines", len(d.Goroutines))
	}
	if got := DropIdle([]*GoroutineDump{d}, nil); got[0] != d {
		t.Error("without a baseline DropIdle must return the dumps as they are")
	}
}

// Diagnose leaves out what is where it was at the baseline: a loop parked
// in a select since before the scenario is no culprit.
func TestDiagnose_dropsIdleAtBaseline(t *testing.T) {
	req := map[string]string{LabelPath: "request"}
	loop := Goroutine{ID: 1, State: "chan receive", Labels: req, Stack: stack(sb+"server.(*T).loop", sb+"server.(*T).run")}
	d := &GoroutineDump{Goroutines: []Goroutine{loop}}
	if Diagnose(Evidence{Dumps: []*GoroutineDump{d}}, DiagnoseOptions{}) == nil {
		t.Fatal("without a baseline the wait must be ranked")
	}
	if got := Diagnose(Evidence{Dumps: []*GoroutineDump{d}, Baseline: []Goroutine{loop}}, DiagnoseOptions{}); got != nil {
		t.Errorf("a goroutine idle since the baseline was diagnosed: %+v", got)
	}
}
