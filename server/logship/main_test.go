package logship

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeSink is a VictoriaLogs-compatible /insert/jsonline endpoint with
// injectable faults. (scenarios/fakesink is the harness's; server/ must not
// import the harness, so the tests keep this small one.)
type fakeSink struct {
	srv *httptest.Server

	mu     sync.Mutex
	lines  [][]byte // every line received and acknowledged
	bodies bytes.Buffer
	status int           // answer status; 0 means 204
	delay  time.Duration // per request
	stall  chan struct{} // non-nil: requests wait until closed (or the client gives up)

	requests atomic.Int64
	badCT    atomic.Int64
}

func newFakeSink(t testing.TB) *fakeSink {
	f := &fakeSink{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeSinkAt starts the sink on addr (used to bring a "down" sink back).
func newFakeSinkAt(t testing.TB, addr string) *fakeSink {
	f := &fakeSink{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot listen on %s again: %v", addr, err)
	}
	f.srv.Listener.Close()
	f.srv.Listener = ln
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// deadAddr returns a loopback address nothing listens on (connection refused).
func deadAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (f *fakeSink) URL() string { return f.srv.URL }

func (f *fakeSink) set(status int, delay time.Duration, stall chan struct{}) {
	f.mu.Lock()
	f.status, f.delay, f.stall = status, delay, stall
	f.mu.Unlock()
}

func (f *fakeSink) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.URL.Path != "/insert/jsonline" {
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/stream+json" {
		f.badCT.Add(1)
	}
	f.mu.Lock()
	status, delay, stall := f.status, f.delay, f.stall
	f.mu.Unlock()
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		return
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 && status/100 != 2 {
		w.WriteHeader(status)
		return
	}
	f.mu.Lock()
	f.bodies.Write(body.Bytes())
	sc := bufio.NewScanner(bytes.NewReader(body.Bytes()))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			f.lines = append(f.lines, bytes.Clone(sc.Bytes()))
		}
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeSink) received() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lines)
}

func (f *fakeSink) allBodies() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.bodies.Bytes())
}

func (f *fakeSink) receivedLines() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.lines...)
}

// newLatencyHist records log-call durations in ns, 100 ns .. 1 min.
func newLatencyHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(100, int64(time.Minute), 3)
}

// hammer runs goroutines × perG log calls in tight loops and returns the
// merged latency histogram of the calls.
func hammer(goroutines, perG int, call func(g, i int)) *hdrhistogram.Histogram {
	hs := make([]*hdrhistogram.Histogram, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		hs[g] = newLatencyHist()
		wg.Go(func() {
			h := hs[g]
			for i := range perG {
				start := time.Now()
				call(g, i)
				_ = h.RecordValue(int64(time.Since(start)))
			}
		})
	}
	wg.Wait()
	all := newLatencyHist()
	for _, h := range hs {
		all.Merge(h)
	}
	return all
}

func quantiles(h *hdrhistogram.Histogram) string {
	return fmt.Sprintf("p50=%v p99=%v p99.9=%v max=%v n=%d",
		time.Duration(h.ValueAtQuantile(50)), time.Duration(h.ValueAtQuantile(99)),
		time.Duration(h.ValueAtQuantile(99.9)), time.Duration(h.Max()), h.TotalCount())
}

func checkInvariant(t testing.TB, name string, s SinkStats) {
	t.Helper()
	if s.Emitted != s.Delivered+s.DroppedTotal+s.Pending {
		t.Errorf("%s: emitted %d != delivered %d + dropped %d + pending %d",
			name, s.Emitted, s.Delivered, s.DroppedTotal, s.Pending)
	}
	var sum int64
	for _, n := range s.Dropped {
		sum += n
	}
	if sum != s.DroppedTotal {
		t.Errorf("%s: dropped by reason sums to %d, total says %d", name, sum, s.DroppedTotal)
	}
}

func closeCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// logCallP99Bound is the bound asserted on the p99 of log calls while a sink
// is stalled or a pipe unread: 1 ms as the issue asks, looser under -race
// (see race_on_test.go). Either way it is far below the sink's stall, so a
// log call that waited for the sink would still fail the test.
func logCallP99Bound() time.Duration {
	if raceEnabled {
		return 50 * time.Millisecond
	}
	return time.Millisecond
}
