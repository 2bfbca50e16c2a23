package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// quantile returns the q-quantile (0..1) of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// checkAttached requires that every overflow file of m went to the store.
func checkAttached(t *testing.T, what string, m server.Metadata, ev fakeai.Echo) {
	t.Helper()
	if len(m.Overflow) == 0 || !m.OverflowAttached || len(m.FailedUploads) != 0 || len(ev.VectorStoreIDs) != 1 ||
		ev.StoreFiles != len(m.Overflow) {
		t.Fatalf("%s: overflow %d attached %v failed %v note %q; the model saw stores %v with %d files",
			what, len(m.Overflow), m.OverflowAttached, m.FailedUploads, m.OverflowNote, ev.VectorStoreIDs, ev.StoreFiles)
	}
}

// issues 3+4: with the fake's upload throttle engaged (7×), a context call
// completes; then, with a call's uploads in flight, 100 pings and 20
// list_models on the same stdio connection are each answered fast; the call
// is cancelled, its handler returns promptly, the fake's uploads stop, and
// the next call (a new session) works.
func TestE2E_UploadsThrottled_PingsAndCancel(t *testing.T) {
	verifyNoLeaks(t)
	e := newE2E(t, false)
	slow := fakeai.Faults{UploadLatency: fakeai.Duration(50 * time.Millisecond), ThrottleAfterUploads: 20, ThrottleFactor: 7}
	fake := startFake(t, e, slow)
	genA := writeFiles(t, e.project, "a", 40, 40<<10, "set-a")
	genB := writeFiles(t, e.project, "b", 40, 40<<10, "set-b")
	s := e.startServer()

	// 1. The throttle engages during this call (20 uploads, then 7× slower), and the call completes.
	r1 := call(t, s.c, "chat_with_o3", chat("up-1", genA))
	m1, ev1 := meta(t, r1), echo(t, r1)
	checkAttached(t, "throttled call", m1, ev1)
	st := fake.Stats()
	if st["throttle_engaged"] != 1 || st["uploads_throttled"] == 0 || m1.Uploaded != len(m1.Overflow) {
		t.Fatalf("throttle not engaged by the first call: uploaded %d, stats %s", m1.Uploaded,
			statsJSON(st, "throttle_engaged", "uploads_throttled", "files_uploaded"))
	}
	t.Logf("throttled call: %d overflow files uploaded (%d throttled) in %d ms of attach",
		m1.Uploaded, st["uploads_throttled"], int(m1.Timings.AttachMS))

	// 2. Throttled uploads now take 7 × 2 s: the next call's uploads stay in
	// flight. The first call's project-memory document is uploaded first, so
	// that only the next call's uploads arrive from here on.
	s.waitMemorySettled(1)
	held := slow
	held.ThrottleBase = fakeai.Duration(2 * time.Second)
	fake.SetFaults(held)
	before := fake.Stats()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		r   *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := s.callCtx(ctx, "chat_with_o3", chat("up-2", genB))
		done <- outcome{r, err}
	}()
	arrivals := func(st map[string]int64) int64 { return st["uploads_throttled"] - before["uploads_throttled"] }
	// At most vectorstore.DefaultMaxUploads are in flight at once; the rest wait for a slot.
	inFlight := int64(min(len(m1.Overflow), vectorstore.DefaultMaxUploads))
	waitFor(t, 20*time.Second, "the second call's uploads to be in flight", func() bool {
		return arrivals(fake.Stats()) >= inFlight
	})

	var pings, lists []time.Duration
	for i := 0; i < 120; i++ {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		if i%6 == 5 {
			res, err := s.callCtx(rctx, "list_models", map[string]any{})
			if err != nil || res.IsError {
				t.Fatalf("list_models %d with uploads in flight: %v %v", len(lists), err, res)
			}
			lists = append(lists, time.Since(t0))
		} else {
			if err := s.c.Ping(rctx); err != nil {
				t.Fatalf("ping %d with uploads in flight: %v", len(pings), err)
			}
			pings = append(pings, time.Since(t0))
		}
		rcancel()
	}
	select {
	case o := <-done:
		t.Fatalf("the upload call ended before the cancel: %v %v", o.err, o.r)
	default:
	}
	mid := fake.Stats()
	if d := mid["files_uploaded"] - before["files_uploaded"]; d != 0 {
		t.Fatalf("%d uploads finished while they should all be held by the throttle", d)
	}
	slices.Sort(pings)
	slices.Sort(lists)
	t.Logf("with %d uploads in flight (throttled): ping p50=%v p99=%v max=%v; list_models p50=%v p99=%v max=%v",
		arrivals(mid), quantile(pings, .5), quantile(pings, .99), pings[len(pings)-1],
		quantile(lists, .5), quantile(lists, .99), lists[len(lists)-1])
	if p := quantile(pings, .99); p > 250*time.Millisecond {
		t.Errorf("ping p99 %v with uploads in flight, want < 250 ms", p)
	}
	if p := quantile(lists, .99); p > 250*time.Millisecond {
		t.Errorf("list_models p99 %v with uploads in flight, want < 250 ms", p)
	}

	// 3. Cancel: the client sends notifications/cancelled.
	tCancel := time.Now()
	cancel()
	select {
	case o := <-done:
		if o.err == nil {
			t.Fatalf("cancelled call returned a result: %s", resultText(o.r))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call did not return")
	}
	// Every upload in flight at the fake ends unanswered, and no new one starts.
	var after map[string]int64
	waitFor(t, 5*time.Second, "the fake's in-flight uploads to be abandoned", func() bool {
		after = fake.Stats()
		return after["uploads_abandoned"]-before["uploads_abandoned"]+after["files_uploaded"]-before["files_uploaded"] == arrivals(after)
	})
	t.Logf("fake saw the %d in-flight uploads end %v after the cancel", arrivals(after), time.Since(tCancel).Round(time.Millisecond))
	var rec server.CallInfo
	// The transport marks the response suppressed just after the handler
	// has returned and its record reached the recent list, so wait for both.
	waitFor(t, 10*time.Second, "the cancelled call in /debug/calls, its response suppressed", func() bool {
		for _, c := range s.calls().Recent {
			if c.Tool == "chat_with_o3" && c.Outcome == server.OutcomeCancelled {
				rec = c
				return c.ResponseSuppressed
			}
		}
		return false
	})
	if rec.CancelToReturnMS == nil {
		t.Fatalf("cancelled call record: %+v", rec)
	}
	t.Logf("cancel → handler return: %.2f ms (server clock, /debug/calls)", *rec.CancelToReturnMS)
	if *rec.CancelToReturnMS > 250 {
		t.Errorf("cancel → return took %.1f ms, want < 250 ms (spec 100 ms)", *rec.CancelToReturnMS)
	}
	time.Sleep(500 * time.Millisecond)
	late := fake.Stats()
	if arrivals(late) != arrivals(after) || late["files_uploaded"] != after["files_uploaded"] {
		t.Errorf("uploads went on after the cancel: %d → %d arrivals, %d → %d finished",
			arrivals(after), arrivals(late), after["files_uploaded"], late["files_uploaded"])
	}

	// 4. The next call, a new session on set A, works and reuses A's uploads.
	// The throttle stays engaged, back at 7 × 50 ms (this call's memory
	// document is uploaded through it).
	fake.SetFaults(slow)
	r3 := call(t, s.c, "chat_with_o3", chat("up-3", genA))
	m3, ev3 := meta(t, r3), echo(t, r3)
	checkAttached(t, "call after the cancel", m3, ev3)
	if m3.Uploaded != 0 || fake.Stats()["throttle_engaged"] != 1 {
		t.Errorf("call after the cancel uploaded %d files, want 0 (all reused); throttle engaged %d",
			m3.Uploaded, fake.Stats()["throttle_engaged"])
	}
}

// The same files in a new session of the same project are not
// uploaded again (the fake's files_uploaded moves only by the project-memory
// documents the server writes after each call), and after a restart on the
// same database likewise.
func TestE2E_UploadDedup_NewSessionAndRestart(t *testing.T) {
	verifyNoLeaks(t)
	e := newE2E(t, false)
	fake := startFake(t, e, fakeai.Faults{})
	gen := writeFiles(t, e.project, "d", 40, 40<<10, "dedup")

	s1 := e.startServer()
	r1 := call(t, s1.c, "chat_with_o3", chat("d-1", gen))
	m1, ev1 := meta(t, r1), echo(t, r1)
	checkAttached(t, "first call", m1, ev1)
	if m1.Uploaded != len(m1.Overflow) {
		t.Fatalf("first call uploaded %d of %d overflow files", m1.Uploaded, len(m1.Overflow))
	}
	mem := s1.waitMemorySettled(1)
	base := fake.Stats()

	check := func(what string, s *sbProc, session string, memBefore map[string]int64, calls int64) {
		t.Helper()
		r := call(t, s.c, "chat_with_o3", chat(session, gen))
		m, ev := meta(t, r), echo(t, r)
		checkAttached(t, what, m, ev)
		memAfter := s.waitMemorySettled(calls)
		st := fake.Stats()
		uploaded := st["files_uploaded"] - base["files_uploaded"]
		memDocs := memAfter["Written"] - memBefore["Written"]
		t.Logf("%s: metadata uploaded=%d reused=%d; fake files_uploaded +%d (project-memory documents written: %d)",
			what, m.Uploaded, m.Reused, uploaded, memDocs)
		if m.Uploaded != 0 || m.Reused != len(m.Overflow) || uploaded != memDocs {
			t.Errorf("%s: uploaded %d, reused %d of %d; fake received %d files for %d memory documents",
				what, m.Uploaded, m.Reused, len(m.Overflow), uploaded, memDocs)
		}
		if slices.Equal(m.VectorStoreIDs, m1.VectorStoreIDs) {
			t.Errorf("%s: a new session reused the first session's store %v", what, m.VectorStoreIDs)
		}
		base = st
	}
	check("new session, same project", s1, "d-2", mem, 2)
	if err := s1.c.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	s2 := e.startServer()
	check("after a restart", s2, "d-3", map[string]int64{"Written": 0}, 1)
}

// At the fake's store limit (3: two session stores and the
// project's memory store), a new session's call gets a clear, immediate
// error while every store was used within --vector-store-evict-idle; once
// the least recently used session store has been idle that long, the call
// evicts it and succeeds.
func TestE2E_UploadStoreLimit_EvictsIdleElseClearError(t *testing.T) {
	verifyNoLeaks(t)
	e := newE2E(t, false)
	fake := startFake(t, e, fakeai.Faults{StoreLimit: 3})
	gen := writeFiles(t, e.project, "l", 40, 40<<10, "limit")

	// 1 h of scenario time (36 s real): nothing becomes evictable in this phase.
	s1 := e.startServer("--vector-store-evict-idle", "1h")
	// Stores used late in a server's life: its scaled clock is then 200 s
	// ahead of one a restarted server would start afresh, and the restart
	// below must still see them as idle (it did not, on a slow CI run).
	time.Sleep(2 * time.Second)
	for _, id := range []string{"l-1", "l-2"} {
		r := call(t, s1.c, "chat_with_o3", chat(id, gen))
		checkAttached(t, id, meta(t, r), echo(t, r))
	}
	s1.waitMemorySettled(2)
	if st := fake.Stats(); st["vector_stores_alive"] != 3 {
		t.Fatalf("want the fake full (2 session stores + 1 memory store), have %d alive", st["vector_stores_alive"])
	}
	t0 := time.Now()
	r := call(t, s1.c, "chat_with_o3", chat("l-3", gen))
	took := time.Since(t0)
	m := meta(t, r)
	if r.IsError || m.OverflowAttached || !strings.Contains(m.OverflowNote, "limit reached") || !strings.Contains(m.OverflowNote, "in use or used within") {
		t.Fatalf("at the limit with nothing evictable: error %v, attached %v, note %q", r.IsError, m.OverflowAttached, m.OverflowNote)
	}
	t.Logf("nothing evictable: answered in %v (attach step %.1f ms), note %q", took.Round(time.Millisecond), m.Timings.AttachMS, m.OverflowNote)
	if m.Timings.AttachMS > 2000 {
		t.Errorf("store-limit error took %.0f ms in the attach step, want immediate", m.Timings.AttachMS)
	}
	if st := fake.Stats(); st["vector_stores_refused"] < 1 || st["vector_stores_alive"] != 3 || st["vector_stores_deleted"] != 0 {
		t.Errorf("fake after the refused call: %s", statsJSON(st, "vector_stores_refused", "vector_stores_alive", "vector_stores_deleted"))
	}
	if err := s1.c.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	// 1 min of scenario time = 0.6 s real; a 1 s pause makes both session stores idle enough.
	s2 := e.startServer("--vector-store-evict-idle", "1m")
	time.Sleep(time.Second)
	r = call(t, s2.c, "chat_with_o3", chat("l-3", gen))
	m, ev := meta(t, r), echo(t, r)
	checkAttached(t, "call after the idle threshold", m, ev)
	st := fake.Stats()
	if st["vector_stores_deleted"] != 1 || st["vector_stores_alive"] != 3 {
		t.Errorf("want exactly one store evicted and the fake at its limit: %s",
			statsJSON(st, "vector_stores_created", "vector_stores_deleted", "vector_stores_alive", "vector_stores_refused"))
	}
	live := func(session string) bool {
		d := call(t, s2.c, "describe_session", map[string]any{"session_id": session, "tool": "chat_with_o3"})
		return strings.Contains(resultText(d), `"vector_store":`)
	}
	if live("l-1") || !live("l-2") || !live("l-3") {
		t.Errorf("want the least recently used store (l-1) evicted: live l-1 %v, l-2 %v, l-3 %v", live("l-1"), live("l-2"), live("l-3"))
	}
	t.Logf("eviction: %s", fmt.Sprint(statsJSON(st, "vector_stores_created", "vector_stores_deleted", "vector_stores_refused")))
}
