package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The registry's culprits come from the code: they name the functions
// where each fault's goroutines wait, as a goroutine dump prints them.
func TestAll_culprits(t *testing.T) {
	want := map[string]string{
		SyncLog:        "logship.",
		SyncStderr:     "logship.",
		HeldSemaphore:  "faults.(*Set).acquireModelSlot",
		WorkerPool:     "faults.(*workerPool).submit",
		ConnPool:       "vectorstore.",
		BlockingFileIO: "faults.readContext",
		GoroutineLeak:  "faults.(*Set).watchCall",
		CPUHotPath:     "faults.(*Set).rehashHistory",
		HeldLock:       "faults.(*Set).lockHistory",
	}
	all := All()
	if len(all) != len(want) {
		t.Errorf("%d faults; want %d", len(all), len(want))
	}
	for _, f := range all {
		if f.Culprit != want[f.Name] {
			t.Errorf("%s: culprit %q; want %q", f.Name, f.Culprit, want[f.Name])
		}
		if len(f.Args) != 2 || f.Cause == "" {
			t.Errorf("%s: args %v, cause %q", f.Name, f.Args, f.Cause)
		}
	}
}

func TestNew(t *testing.T) {
	if s, err := New(nil, clock.NewScaled(1)); s != nil || err != nil {
		t.Errorf("no names: %v, %v; want a nil Set", s, err)
	}
	if _, err := New([]string{HeldLock, "nope"}, clock.NewScaled(1)); err == nil {
		t.Error("an unknown name was accepted")
	}
	var none *Set
	end, err := none.BeginModelCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	end()
	if none.Dispatch(context.Background(), nil, func() {}) || none.Has(HeldLock) {
		t.Error("a nil Set injected something")
	}
	none.Close()
}

// held-semaphore: a cancelled call keeps the slot, so the next call waits
// until its own context ends.
func TestHeldSemaphore(t *testing.T) {
	s, err := New([]string{HeldSemaphore}, clock.NewScaled(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	end, err := s.BeginModelCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	end()
	next, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if _, err := s.BeginModelCall(next); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("next call: %v; want it to wait for the slot until its deadline", err)
	}
}

// held-lock: the compaction a call starts holds the lock the next call
// takes; Close ends it.
func TestHeldLock(t *testing.T) {
	s, err := New([]string{HeldLock}, clock.NewScaled(1))
	if err != nil {
		t.Fatal(err)
	}
	end, err := s.BeginModelCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	end()
	// The compaction's goroutine takes the lock once it runs.
	for deadline := time.Now().Add(5 * time.Second); s.history.TryLock(); {
		s.history.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the compaction never took the lock")
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan struct{})
	go func() {
		defer close(got)
		if end, err := s.BeginModelCall(context.Background()); err == nil {
			end()
		}
	}()
	select {
	case <-got:
		t.Fatal("the next call took the lock while the compaction held it")
	case <-time.After(50 * time.Millisecond):
	}
	s.Close() // the compaction stops: the waiting call goes on and starts none
	<-got
}

// worker-pool: a second job waits on the dispatch while the one worker is
// busy.
func TestWorkerPool(t *testing.T) {
	s, err := New([]string{WorkerPool}, clock.NewScaled(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release, ran := make(chan struct{}), make(chan struct{})
	if !s.Dispatch(context.Background(), nil, func() { <-release }) {
		t.Fatal("the pool did not take the first job")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s.Dispatch(ctx, nil, func() { close(ran) }) {
		t.Fatal("the pool took a second job while its worker was busy")
	}
	close(release)
	if !s.Dispatch(context.Background(), nil, func() { close(ran) }) {
		t.Fatal("the pool refused a job once free")
	}
	<-ran
}
