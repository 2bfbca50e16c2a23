package probes

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/debug"
	"github.com/secondbrain-dev/secondbrain/server/debugapi"
	"github.com/secondbrain-dev/secondbrain/server/logship"
)

// callsJSON is /debug/calls as the server writes it (server.CallsSnapshot).
const callsJSON = `{
  "now": "2026-11-20T10:00:02Z",
  "in_flight": [
    {"seq": 7, "transport": "stdio", "request_id": "9", "tool": "second_brain", "start": "2026-11-20T10:00:00Z",
     "duration_ms": 2000, "cancel_received_at": "2026-11-20T10:00:01Z"}
  ],
  "recent": [
    {"seq": 6, "transport": "stdio", "request_id": "8", "tool": "second_brain", "start": "2026-11-20T09:59:00Z",
     "duration_ms": 900, "outcome": "cancelled", "cancel_received_at": "2026-11-20T09:59:00.800Z",
     "handler_returned_at": "2026-11-20T09:59:00.812Z", "cancel_to_return_ms": 12.5, "response_suppressed": true},
    {"seq": 5, "transport": "stdio", "request_id": "7", "tool": "noop", "start": "2026-11-20T09:58:00Z",
     "duration_ms": 0.3, "outcome": "ok"}
  ],
  "started": 7,
  "suppressed_responses": 1
}`

// TestDebugClient_realListener drives the server's real debug listener
// (server/debug) in this process: runtime JSON, vars, calls, profiling
// switches, block/mutex deltas over a step, goroutine dumps, the flight
// recorder, the diagnosis, and saving every profile.
func TestDebugClient_realListener(t *testing.T) {
	ctx := t.Context()
	vars := func() any {
		return debugapi.Vars{Logship: logship.Stats{
			Mode: "async",
			Stderr: &logship.SinkStats{Mode: "async", Emitted: 10, Delivered: 7, Pending: 1,
				Dropped: map[string]int64{"queue_full": 2}, DroppedTotal: 2},
			VictoriaLogs: &logship.ShipperStats{SinkStats: logship.SinkStats{Mode: "async", Emitted: 100, Delivered: 90,
				Pending: 4, Dropped: map[string]int64{"queue_full": 5, "sink_error": 1}, DroppedTotal: 6}},
		}}
	}
	l, err := debug.Start(ctx, debug.Options{
		Addr: "127.0.0.1:0",
		Vars: vars,
		Handlers: map[string]http.Handler{"/debug/calls": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(callsJSON))
		})},
		FlightRecorder: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Stop(context.Background()) }()
	c := NewDebugClient(l.Addr(), nil)
	defer c.Close()

	rs, err := c.Runtime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Goroutines <= 0 || rs.OpenFDs <= 0 || rs.RSSBytes <= 0 {
		t.Errorf("runtime = %+v", rs)
	}
	if rs.SchedLatency.Total() == 0 {
		t.Errorf("sched latency histogram empty: %+v", rs.SchedLatency)
	}

	b, err := c.Vars(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseVars(b)
	if err != nil {
		t.Fatal(err)
	}
	vl, se := LogCountersOf(doc.Logship.VictoriaLogs.SinkStats), LogCountersOf(*doc.Logship.Stderr)
	if vl.Emitted != 100 || vl.DroppedTotal() != 6 || se.Emitted != 10 {
		t.Fatalf("counters = %+v, %+v", vl, se)
	}
	la := AccountLogs(vl, &se, 90)
	if la.Unaccounted != 0 || la.Dropped != 6 || la.StderrDropped != 2 || la.DroppedBy["sink_error"] != 1 {
		t.Errorf("log account = %+v", la)
	}

	calls, err := c.Calls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The stuck call's age is measured to the server's own "now"
	// (10:00:02), not to the caller's clock.
	done, stuck := calls.CancelToReturn(time.Date(2026, 11, 20, 10, 0, 3, 0, time.UTC))
	if len(done) != 1 || done[0] != 12500*time.Microsecond || len(stuck) != 1 || stuck[0] != time.Second {
		t.Errorf("cancel to return = %v, stuck %v", done, stuck)
	}
	if n, cancelled := calls.ResponsesAfterCancel(); n != 0 || cancelled != 1 {
		t.Errorf("responses after cancel = %d of %d cancelled; want 0 of 1", n, cancelled)
	}
	if calls.SuppressedResponses != 1 {
		t.Errorf("suppressed = %d", calls.SuppressedResponses)
	}

	if err := c.SetProfiling(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	step, err := c.BeginStep(ctx, "step 2: held mutex")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	mu.Lock()
	var wg sync.WaitGroup
	for range 3 {
		asRequest(&wg, "second_brain", func(context.Context) { lockStore(&mu) })
	}
	waitFor(t, 3, "probes.lockStore", "sync.Mutex.Lock")
	if _, err := step.SampleGoroutines(ctx); err != nil {
		t.Fatal(err)
	}
	if err := step.OnBreach(ctx, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	mu.Unlock()
	wg.Wait()
	if err := step.End(ctx); err != nil {
		t.Fatal(err)
	}
	if err := step.End(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.SetProfiling(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}

	ev := step.Evidence()
	if len(ev.Dumps) != 4 {
		t.Errorf("dumps = %d; want 4 (sample, breach ×2, end)", len(ev.Dumps))
	}
	var blockDelay time.Duration
	for _, s := range ev.Block {
		if anyFrame(s.Stack, "probes.lockStore") {
			blockDelay += s.Delay
		}
	}
	if blockDelay < 3*40*time.Millisecond {
		t.Errorf("block delay in lockStore = %v; want >= 120ms (3 waiters, >= 40 ms each)", blockDelay)
	}
	// The breach window was cut while the three still waited.
	if d, n := sumWaits(ev.Trace, "sync", "probes.lockStore"); n != 3 || d <= 0 {
		t.Errorf("trace waits in lockStore = %v in %d waits; want 3 open waits", d, n)
	}

	dir := t.TempDir()
	paths, err := step.SaveProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range paths {
		if filepath.Dir(p) != dir || !strings.HasPrefix(filepath.Base(p), "step_2_held_mutex-") {
			t.Errorf("saved %s", p)
		}
		data, err := os.ReadFile(p)
		if err != nil || len(data) == 0 {
			t.Errorf("read %s: %v (%d bytes)", p, err, len(data))
		}
		if strings.HasSuffix(p, ".pb.gz") {
			if _, err := ParseProfile(data); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		kinds = append(kinds, filepath.Ext(p))
	}
	joined := strings.Join(kinds, " ")
	for _, want := range []string{".gz", ".txt", ".trace"} {
		if !strings.Contains(joined, want) {
			t.Errorf("saved kinds %v lack %s", kinds, want)
		}
	}

	// Block stacks carry no labels: mark this test's request goroutines by
	// frame, as the server's are by its dispatch frames.
	diag := step.Diagnose(DiagnoseOptions{RequestMarkers: []string{"probes.asRequest"}}, paths)
	if diag == nil || diag.Cause != CauseSemaphoreHeld || !strings.Contains(diag.Culprit, "probes.lockStore") {
		t.Fatalf("diagnosis = %+v", diag)
	}
	t.Logf("diagnosis: %s", diag.Summary)
	for _, f := range diag.Frames {
		t.Logf("  %s %s goroutines=%d wait=%.1fms source=%s", f.Cause, f.Frame, f.Goroutines, f.WaitMS, f.Source)
	}
	var sawBlock bool
	for _, f := range diag.Frames {
		sawBlock = sawBlock || (f.Source == "block" && f.Cause == CauseSemaphoreHeld && f.WaitMS >= 120)
	}
	if !sawBlock {
		t.Errorf("no block-profile frame of >= 120 ms in the diagnosis")
	}
	var sawTrace bool
	for _, f := range diag.Frames {
		sawTrace = sawTrace || (f.Source == "trace" && f.Cause == CauseSemaphoreHeld && strings.Contains(f.Frame, "probes.lockStore"))
	}
	if !sawTrace {
		t.Errorf("no flight-recorder frame in lockStore in the diagnosis")
	}
	if len(diag.Profiles) != len(paths) {
		t.Errorf("profiles not carried into the diagnosis")
	}
}

func TestDebugClient_errors(t *testing.T) {
	c := NewDebugClient("127.0.0.1:1", nil) // nothing listens on port 1
	defer c.Close()
	if _, err := c.Runtime(t.Context()); err == nil || !strings.Contains(err.Error(), "/debug/runtime") {
		t.Errorf("err = %v; want one naming the path", err)
	}
}
