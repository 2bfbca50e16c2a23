package logship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// fastOptions are scaled timings: the production defaults are seconds, the
// tests' are tens of milliseconds.
func fastOptions(url string) ShipperOptions {
	return ShipperOptions{
		URL:            url,
		FlushInterval:  10 * time.Millisecond,
		RequestTimeout: 200 * time.Millisecond,
		MinBackoff:     10 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
	}
}

// waitFor polls cond every few ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startShipper(t testing.TB, o ShipperOptions) *Shipper {
	t.Helper()
	s, err := StartShipper(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(closeCtx(t, time.Second)) })
	return s
}

func TestShipper_slogtest(t *testing.T) {
	var sink *fakeSink
	var s *Shipper
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		sink = newFakeSink(t)
		s = startShipper(t, fastOptions(sink.URL()))
		return s
	}, func(t *testing.T) map[string]any {
		if err := s.Close(closeCtx(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		lines := sink.receivedLines()
		if len(lines) != 1 {
			t.Fatalf("sink got %d records, want 1", len(lines))
		}
		var m map[string]any
		if err := json.Unmarshal(lines[0], &m); err != nil {
			t.Fatal(err)
		}
		// Undo VictoriaLogs' names for slogtest, and the app field we add.
		if v, ok := m["_msg"]; ok {
			m[slog.MessageKey] = v
			delete(m, "_msg")
		}
		if v, ok := m["_time"]; ok {
			m[slog.TimeKey] = v
			delete(m, "_time")
		}
		if m[KeyApp] != DefaultApp {
			t.Errorf("app = %v, want %q", m[KeyApp], DefaultApp)
		}
		delete(m, KeyApp)
		return m
	})
}

func TestShipper_deliversEverythingToHealthySink(t *testing.T) {
	sink := newFakeSink(t)
	o := fastOptions(sink.URL())
	o.MaxQueueRecords = 100000
	o.MaxQueueBytes = 64 << 20
	// A POST that times out after the sink stored it is re-sent (delivery is
	// at least once); a generous timeout keeps the line count exact here.
	o.RequestTimeout = 10 * time.Second
	s := startShipper(t, o)
	log := slog.New(s).With(Component("test"))
	const goroutines, perG = 50, 1000
	lat := hammer(goroutines, perG, func(g, i int) {
		log.Info("record", "g", g, "i", i, Session("s1"), RequestID(i), Model("o3"))
	})
	t.Logf("healthy sink, %d×%d: %s", goroutines, perG, quantiles(lat))
	if err := s.Close(closeCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkInvariant(t, "shipper", st.SinkStats)
	if st.Emitted != goroutines*perG || st.Delivered != st.Emitted || st.DroppedTotal != 0 {
		t.Errorf("stats = %+v, want all %d delivered", st, goroutines*perG)
	}
	if got := sink.received(); int64(got) != st.Delivered {
		t.Errorf("sink received %d lines, shipper says %d delivered", got, st.Delivered)
	}
	if n := sink.badCT.Load(); n != 0 {
		t.Errorf("%d requests without Content-Type application/stream+json", n)
	}
	t.Logf("batches=%d batch latency %+v", st.Batches, st.BatchLatency)
}

// The log-storm scenario: the sink stalls 10 s per request while 50
// goroutines log in tight loops.
func TestShipper_stalledSinkNeverBlocksCallers(t *testing.T) {
	sink := newFakeSink(t)
	sink.set(0, 10*time.Second, nil)
	notices := &syncBuffer{}
	stderr := StartStderr(notices, StderrOptions{})
	defer stderr.Close(context.Background())
	o := fastOptions(sink.URL())
	o.MaxQueueRecords = 2000
	o.MaxQueueBytes = 256 << 10
	o.Notices = stderr
	o.NoticeInterval = 20 * time.Millisecond
	s := startShipper(t, o)
	log := slog.New(s)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	began := time.Now()
	const goroutines, perG = 50, 2000
	lat := hammer(goroutines, perG, func(g, i int) {
		log.Info("skipping duplicate file", "path", "src/x.go", "g", g, "i", i, Component("vectorstore"))
	})
	// Retained memory while the sink is still stalled and the queue full:
	// bounded by the queue, not by how much was logged.
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("sink stalled, %d goroutines × %d: %s", goroutines, perG, quantiles(lat))
	if p99 := time.Duration(lat.ValueAtQuantile(99)); p99 > logCallP99Bound() {
		t.Errorf("p99 of log calls = %v with a stalled sink, want < %v", p99, logCallP99Bound())
	}
	st := s.Stats()
	checkInvariant(t, "stalled", st.SinkStats)
	if st.QueueHighRecords > int64(o.MaxQueueRecords) || st.QueueHighBytes > int64(o.MaxQueueBytes) {
		t.Errorf("queue exceeded its bounds: high %d records / %d bytes", st.QueueHighRecords, st.QueueHighBytes)
	}
	if st.DroppedTotal == 0 {
		t.Errorf("nothing dropped although the sink stalled")
	}
	heapGrowth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("live heap growth while stalled (after GC): %d KiB (queue bound %d KiB); queue high %d records / %d bytes",
		heapGrowth>>10, o.MaxQueueBytes>>10, st.QueueHighRecords, st.QueueHighBytes)
	// ~25 MB of records were logged; only the queue's 256 KiB (plus slice
	// headers, pools and the test's histograms) may stay alive.
	if heapGrowth > 8<<20 {
		t.Errorf("live heap grew by %d KiB while the sink stalled, want < 8 MiB", heapGrowth>>10)
	}

	// Recovery: the sink answers again; everything queued is delivered.
	sink.set(0, 0, nil)
	waitFor(t, 10*time.Second, "queue to drain", func() bool { return s.Stats().Pending == 0 })
	if err := s.Close(closeCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	checkInvariant(t, "recovered", st.SinkStats)
	if st.Emitted != st.Delivered+st.DroppedTotal {
		t.Errorf("after recovery emitted %d != delivered %d + dropped %d", st.Emitted, st.Delivered, st.DroppedTotal)
	}
	if int64(sink.received()) != st.Delivered {
		t.Errorf("sink has %d lines, shipper says %d delivered", sink.received(), st.Delivered)
	}
	if st.Retries == 0 || st.Notices == 0 {
		t.Errorf("retries = %d, notices = %d; want both > 0", st.Retries, st.Notices)
	}
	if limit := int64(time.Since(began)/o.NoticeInterval) + 1; st.Notices > limit {
		t.Errorf("%d notices in %v: not rate-limited to one per %v", st.Notices, time.Since(began), o.NoticeInterval)
	}
	if err := stderr.Close(closeCtx(t, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(notices.Bytes(), []byte("dropping newest log records")) {
		t.Errorf("no drop notice on stderr: %q", notices.Bytes())
	}
	t.Logf("emitted=%d delivered=%d dropped=%v retries=%d notices=%d batch latency %+v",
		st.Emitted, st.Delivered, st.Dropped, st.Retries, st.Notices, st.BatchLatency)
}

func TestShipper_sinkDownThenBack(t *testing.T) {
	addr := deadAddr(t)
	s := startShipper(t, fastOptions("http://"+addr))
	log := slog.New(s)
	for i := range 500 {
		log.Info("while down", "i", i)
	}
	waitFor(t, 5*time.Second, "retries against the dead sink", func() bool { return s.Stats().Retries >= 3 })
	if st := s.Stats(); st.Delivered != 0 || st.Pending != 500 {
		t.Fatalf("while down: %+v, want 500 pending", st)
	}
	sink := newFakeSinkAt(t, addr)
	waitFor(t, 5*time.Second, "delivery after the sink came back", func() bool { return s.Stats().Pending == 0 })
	if err := s.Close(closeCtx(t, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	checkInvariant(t, "down-then-back", st.SinkStats)
	if st.Delivered != 500 || st.DroppedTotal != 0 || sink.received() != 500 {
		t.Errorf("stats %+v, sink got %d; want 500 delivered, 0 dropped", st, sink.received())
	}
	t.Logf("retries while down: %d", st.Retries)
}

func TestShipper_sinkDownThroughShutdown(t *testing.T) {
	s := startShipper(t, fastOptions("http://"+deadAddr(t)))
	log := slog.New(s)
	for i := range 300 {
		log.Info("never delivered", "i", i)
	}
	start := time.Now()
	err := s.Close(closeCtx(t, 300*time.Millisecond))
	took := time.Since(start)
	if !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), "300 records undelivered") {
		t.Errorf("Close = %v, want ErrUndelivered saying 300 records", err)
	}
	if took > 2*time.Second {
		t.Errorf("Close took %v with a 300ms deadline", took)
	}
	t.Logf("Close gave up after %v: %v", took, err)
	st := s.Stats()
	checkInvariant(t, "down-through-shutdown", st.SinkStats)
	if st.Dropped["shutdown"] != 300 || st.Pending != 0 {
		t.Errorf("stats = %+v, want 300 dropped at shutdown, 0 pending", st)
	}
	log.Info("after close")
	if st := s.Stats(); st.Dropped["shutdown"] != 301 {
		t.Errorf("record after Close: dropped shutdown = %d, want 301", st.Dropped["shutdown"])
	}
}

func TestShipper_statusHandling(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		wantDrop    int64 // sink_error drops
		wantRetries bool
	}{
		{"bad request is permanent", http.StatusBadRequest, 10, false},
		{"503 is retried until Close", http.StatusServiceUnavailable, 0, true},
		{"429 is retried until Close", http.StatusTooManyRequests, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newFakeSink(t)
			sink.set(tt.status, 0, nil)
			s := startShipper(t, fastOptions(sink.URL()))
			log := slog.New(s)
			for i := range 10 {
				log.Info("r", "i", i)
			}
			waitFor(t, 5*time.Second, "a first answer", func() bool { return s.Stats().FailedRequests > 0 })
			if tt.wantRetries {
				waitFor(t, 5*time.Second, "retries", func() bool { return s.Stats().Retries > 0 })
				sink.set(0, 0, nil) // recovers
				waitFor(t, 5*time.Second, "delivery", func() bool { return s.Stats().Delivered == 10 })
			} else {
				waitFor(t, 5*time.Second, "the drop", func() bool { return s.Stats().Pending == 0 })
			}
			st := s.Stats()
			checkInvariant(t, tt.name, st.SinkStats)
			if st.Dropped["sink_error"] != tt.wantDrop || (st.Retries > 0) != tt.wantRetries {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// Batching by size and by time, on a fake clock.
func TestShipper_batchesBySizeAndTime(t *testing.T) {
	sink := newFakeSink(t)
	fake := clock.NewFake(time.Unix(1e9, 0))
	o := fastOptions(sink.URL())
	o.Clock = fake
	o.BatchRecords = 10
	o.FlushInterval = time.Second
	s := startShipper(t, o)
	log := slog.New(s)
	for i := range 25 {
		log.Info("r", "i", i)
	}
	waitFor(t, 5*time.Second, "two full batches", func() bool { return s.Stats().Delivered == 20 })
	ctx := closeCtx(t, 5*time.Second)
	if err := fake.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Delivered; got != 20 {
		t.Fatalf("delivered %d before the flush interval, want 20", got)
	}
	fake.Advance(time.Second)
	waitFor(t, 5*time.Second, "the timed flush", func() bool { return s.Stats().Delivered == 25 })
	if st := s.Stats(); st.Batches != 3 {
		t.Errorf("batches = %d, want 3", st.Batches)
	}
}

// The canary: sync-log makes each log call take the sink's delay.
func TestShipper_syncModeTakesSinkDelay(t *testing.T) {
	sink := newFakeSink(t)
	const delay = 50 * time.Millisecond
	sink.set(0, delay, nil)
	o := fastOptions(sink.URL())
	o.Sync = true
	s := startShipper(t, o)
	log := slog.New(s)
	start := time.Now()
	lat := hammer(4, 5, func(g, i int) { log.Info("skipping duplicate file", "i", i) })
	total := time.Since(start)
	t.Logf("sync-log, sink delay %v, 4×5 calls: %s, total %v", delay, quantiles(lat), total)
	if min := time.Duration(lat.Min()); min < delay {
		t.Errorf("fastest sync log call took %v, want ≥ the sink's %v", min, delay)
	}
	// The mutex serialises the POSTs: 20 calls take at least 20 delays.
	if total < 20*delay {
		t.Errorf("20 sync calls took %v, want ≥ %v (serialised)", total, 20*delay)
	}
	st := s.Stats()
	checkInvariant(t, "sync-log", st.SinkStats)
	if st.Mode != "sync-log" || st.Delivered != 20 || sink.received() != 20 {
		t.Errorf("stats = %+v, sink got %d", st, sink.received())
	}
}

func TestStartShipper_rejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:9428", "ftp://x", "http://"} {
		if _, err := StartShipper(ShipperOptions{URL: u}); err == nil {
			t.Errorf("StartShipper(%q) succeeded", u)
		}
	}
}
