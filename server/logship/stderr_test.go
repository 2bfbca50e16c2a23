package logship

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/slogtest"
	"time"
)

// syncBuffer is an io.Writer the test can read while the writer goroutine
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func parseJSONLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("cannot parse line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestStderr_slogtest(t *testing.T) {
	var buf *syncBuffer
	var h *Stderr
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf = &syncBuffer{}
		h = StartStderr(buf, StderrOptions{Format: FormatJSON})
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		return h
	}, func(t *testing.T) map[string]any {
		if err := h.Close(closeCtx(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		recs := parseJSONLines(t, buf.Bytes())
		if len(recs) != 1 {
			t.Fatalf("got %d records, want 1", len(recs))
		}
		return recs[0]
	})
}

// An os.Pipe nobody reads: the host that stopped draining our stderr.
func TestStderr_unreadPipeNeverBlocks(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h := StartStderr(w, StderrOptions{Format: FormatText})
	log := slog.New(h)
	const n = 20000
	lat := hammer(1, n, func(_, i int) {
		log.Info("skipping duplicate file", "path", "src/pkg/file.go", "i", i, Component("vectorstore"))
	})
	t.Logf("20,000 records into an unread pipe: %s", quantiles(lat))
	if p99 := time.Duration(lat.ValueAtQuantile(99)); p99 > logCallP99Bound() {
		t.Errorf("p99 of log calls = %v, want < %v", p99, logCallP99Bound())
	}
	st := h.Stats()
	checkInvariant(t, "stderr", st)
	t.Logf("stats: emitted=%d delivered=%d dropped=%v pending=%d queue_high=%d records/%d bytes",
		st.Emitted, st.Delivered, st.Dropped, st.Pending, st.QueueHighRecords, st.QueueHighBytes)
	if st.Emitted != n {
		t.Errorf("emitted = %d, want %d", st.Emitted, n)
	}
	if st.DroppedTotal == 0 {
		t.Errorf("no drops counted although nobody reads the pipe")
	}
	if st.QueueHighBytes > st.MaxQueueBytes || st.QueueHighRecords > st.MaxQueueRecords {
		t.Errorf("queue exceeded its bounds: %+v", st)
	}
	// The writer goroutine is blocked in write(2); Close must still return
	// at its deadline, say what was lost, and stop the goroutine (os.Pipe is
	// pollable, so the deadline interrupts the write). goleak checks that.
	start := time.Now()
	err = h.Close(closeCtx(t, 200*time.Millisecond))
	if !errors.Is(err, ErrUndelivered) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want ErrUndelivered and DeadlineExceeded", err)
	}
	t.Logf("Close gave up after %v: %v", time.Since(start), err)
	st = h.Stats()
	checkInvariant(t, "stderr after close", st)
	if st.Pending != 0 {
		t.Errorf("pending after Close = %d", st.Pending)
	}
}

// The canary: sync-stderr must block outright on an unread pipe.
func TestStderr_syncModeBlocksOnUnreadPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h := StartStderr(w, StderrOptions{Sync: true})
	log := slog.New(h)
	var calls atomic.Int64
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range 20000 {
			log.Info("skipping duplicate file", "path", "src/pkg/file.go", "i", i)
			calls.Add(1)
		}
	}()
	// A 64 KiB pipe holds well under 1,000 of these lines: the logger must
	// end up parked in the pipe write, inside writeSync, holding its mutex.
	// Look for exactly that in the goroutine dump rather than guessing from
	// timing (a loaded machine can pause any goroutine for a while).
	deadline := time.Now().Add(10 * time.Second)
	for !blockedInWrite() {
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine blocked writing to the pipe after %d calls", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	last := calls.Load()
	select {
	case <-finished:
		t.Fatalf("sync-stderr finished all 20,000 records into an unread pipe: the canary cannot fire")
	case <-time.After(300 * time.Millisecond):
	}
	if got := calls.Load(); got != last || got >= 20000 || !blockedInWrite() {
		t.Fatalf("logger kept going (%d → %d calls) on a full pipe", last, got)
	}
	t.Logf("sync-stderr blocked after %d records on a full pipe", last)
	// Unblock: drain the pipe; the logger then finishes.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("logger still blocked after the pipe was drained")
	}
	w.Close()
	<-drained
	r.Close()
	st := h.Stats()
	checkInvariant(t, "sync-stderr", st)
	if st.Mode != "sync-stderr" || st.Delivered != 20000 {
		t.Errorf("stats = %+v, want mode sync-stderr and 20000 delivered", st)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("Close = %v", err)
	}
}

func TestStderr_levelAndClose(t *testing.T) {
	buf := &syncBuffer{}
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	h := StartStderr(buf, StderrOptions{Level: lv})
	log := slog.New(h).With(Component("test"))
	log.Info("hidden")
	log.Warn("shown", Tool("ask"))
	lv.Set(slog.LevelDebug)
	log.Debug("now shown")
	if err := h.Close(closeCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	log.Error("after close")
	out := string(buf.Bytes())
	for _, want := range []string{"msg=shown", "tool=ask", "component=test", `msg="now shown"`} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if bytes.Contains([]byte(out), []byte("hidden")) || bytes.Contains([]byte(out), []byte("after close")) {
		t.Errorf("output has a record it should not:\n%s", out)
	}
	st := h.Stats()
	checkInvariant(t, "stderr", st)
	if st.Emitted != 3 || st.Delivered != 2 || st.Dropped["shutdown"] != 1 {
		t.Errorf("stats = %+v, want emitted 3, delivered 2, 1 dropped at shutdown", st)
	}
}

// blockedInWrite reports whether some goroutine is parked in a file write
// called from the sync-stderr path.
func blockedInWrite() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "(*stderrCore).writeSync") && strings.Contains(g, "os.(*File).Write") {
			return true
		}
	}
	return false
}
