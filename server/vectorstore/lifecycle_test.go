package vectorstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/procid"
)

func TestLifecycle_TTL(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	e := newEnv(t, clk, fakeai.Faults{})
	m := e.manager(t, Options{StoreTTL: time.Hour})
	dir, files := project(t, 5)
	req := AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files}
	if _, err := m.Attach(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute)
	if _, err := m.Attach(testCtx(t), req); err != nil { // use renews the TTL
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute)
	info, found, err := m.DescribeSession(testCtx(t), dir, "t", "s")
	if err != nil || !found || info.Files != 5 || !info.ExpiresAt.Equal(clk.Now().Add(10*time.Minute)) {
		t.Fatalf("DescribeSession = %+v, %v, %v", info, found, err)
	}
	m.Kick()
	time.Sleep(50 * time.Millisecond)
	if st := e.fake.Stats(); st["vector_stores_alive"] != 1 || st["files_alive"] != 5 {
		t.Fatalf("store deleted before its TTL: %v", st)
	}
	clk.Advance(11 * time.Minute)
	m.Kick()
	waitFor(t, "expired store and its files deleted", func() bool {
		st := e.fake.Stats()
		return st["vector_stores_alive"] == 0 && st["files_alive"] == 0
	})
	if n := m.liveStores(t); n != 0 {
		t.Fatalf("%d live store records after expiry", n)
	}
	// The session starts over with a new store.
	att, err := m.Attach(testCtx(t), req)
	if err != nil || att.Uploaded != 5 {
		t.Fatalf("attach after expiry = %+v, %v", att, err)
	}
}

func TestLifecycle_StoreLimit(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	e := newEnv(t, clk, fakeai.Faults{StoreLimit: 3})
	m := e.manager(t, Options{StoreLimit: 3, EvictHeadroom: -1, EvictMinIdle: 10 * time.Minute})
	dir, files := project(t, 2)
	attach := func(session string) (Attachment, error) {
		return m.Attach(testCtx(t), AttachRequest{Project: dir, Tool: "t", SessionID: session, Files: files})
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if _, err := attach(s); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	clk.Advance(10 * time.Minute) // all three idle now
	// At the limit: the least recently used idle store (s1) makes room.
	if _, err := attach("s4"); err != nil {
		t.Fatalf("attach at the limit with idle stores: %v", err)
	}
	if _, found, _ := m.sessionStore(testCtx(t), AttachRequest{Project: dir, Tool: "t", SessionID: "s1"}); found {
		t.Fatal("s1's store was not the one evicted")
	}
	if st := e.fake.Stats(); st["vector_stores_alive"] != 3 || st["vector_stores_deleted"] != 1 || st["vector_stores_refused"] != 0 {
		t.Fatalf("fake after eviction: %v", st)
	}
	// s2 and s3 are still idle; s5, s6 evict them.
	for _, s := range []string{"s5", "s6"} {
		if _, err := attach(s); err != nil {
			t.Fatal(err)
		}
	}
	// s4, s5, s6 were just used: nothing is evictable. The error is clear and immediate.
	start := time.Now()
	_, err := attach("s7")
	took := time.Since(start)
	if !errors.Is(err, ErrStoreLimit) {
		t.Fatalf("attach with nothing evictable = %v, want ErrStoreLimit", err)
	}
	t.Logf("ErrStoreLimit after %v: %v", took, err)
	if took > 2*time.Second {
		t.Fatalf("ErrStoreLimit took %v", took)
	}
	if st := e.fake.Stats(); st["vector_stores_alive"] != 3 {
		t.Fatalf("fake after refusal: %v", st)
	}
}

// The provider's cap can be lower than ours (stores of another tool on the
// same account): its refusal also triggers eviction.
func TestLifecycle_ProviderLimitEvicts(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	e := newEnv(t, clk, fakeai.Faults{StoreLimit: 2})
	m := e.manager(t, Options{})
	dir, files := project(t, 2)
	for _, s := range []string{"s1", "s2"} {
		if _, err := m.Attach(testCtx(t), AttachRequest{Project: dir, Tool: "t", SessionID: s, Files: files}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	if _, err := m.Attach(testCtx(t), AttachRequest{Project: dir, Tool: "t", SessionID: "s3", Files: files}); err != nil {
		t.Fatalf("attach past the provider's cap: %v", err)
	}
	if st := e.fake.Stats(); st["vector_stores_refused"] != 1 || st["vector_stores_alive"] != 2 {
		t.Fatalf("fake: %v", st)
	}
}

// TestLifecycle_CrashRecovery: a run crashes in the middle of a session's
// second call. Its session store already holds the first call's files, so
// it is the session's and stays; everything else the crash left is deleted
// once the run's heartbeat is stale. (Whether the crashed call itself got a
// batch attached depends on which uploads the fake stalled: an empty store
// of a dead run is deleted, see TestLifecycle_CrashRecoveryEmptyStore, so the
// store must not rest on that.)
func TestLifecycle_CrashRecovery(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	e := newEnv(t, clk, fakeai.Faults{})
	a := e.manager(t, Options{})
	dir, files := project(t, 30)
	req := AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files}
	// The session's first call: its store is created and filled.
	first := req
	first.Files = files[:5]
	if att, err := a.Attach(testCtx(t), first); err != nil || att.Uploaded != 5 {
		t.Fatalf("first attach = %+v, %v", att, err)
	}
	// Its second call: every third upload stalls until its request is abandoned.
	e.fake.SetFaults(fakeai.Faults{Stall: fakeai.Rule{Every: 3, Paths: []string{"POST /v1/files"}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := a.Attach(ctx, req); done <- err }()
	waitFor(t, "uploads under way", func() bool { return e.fake.Stats()["files_uploaded"] >= 5+10 })

	// Two more crash leftovers: a store created at the provider whose
	// "creating" record never learnt its id, and a prefixed store with no
	// record at all.
	nonce := "feedfacecafe0001"
	if _, err := a.db.Exec(`INSERT INTO vs_stores(nonce, kind, project, state, created_at, last_used, owner) VALUES(?, 'session', ?, 'creating', ?, ?, ?)`,
		nonce, dir, a.nowNanos(), a.nowNanos(), a.owner); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{a.namePrefix() + nonce, a.namePrefix() + "00000000unknown0"} {
		if _, err := e.client.VectorStores.New(testCtx(t), openai.VectorStoreNewParams{Name: openai.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	// Crash: the request dies and the manager with it, without any cleanup.
	cancel()
	<-done
	a.abandon()
	before := e.fake.Stats()
	t.Logf("left behind: %d stores, %d files", before["vector_stores_alive"], before["files_alive"])
	if before["vector_stores_alive"] != 3 || before["files_alive"] == 0 {
		t.Fatalf("crash left %v", before)
	}

	e.fake.SetFaults(fakeai.Faults{})
	b := e.manager(t, Options{})
	// The crashed run's heartbeat goes stale; the recovery pass cleans up.
	clk.Advance(15 * time.Minute)
	b.Kick()
	defer func() {
		if t.Failed() {
			rows, _ := b.db.Query(`SELECT nonce, store_id, state, owner FROM vs_stores`)
			for rows.Next() {
				var a, b2, c, d string
				_ = rows.Scan(&a, &b2, &c, &d)
				t.Log("store", a, b2, c, d)
			}
			rows.Close()
			rows, _ = b.db.Query(`SELECT id, file_id, state, owner, created_at FROM vs_files`)
			for rows.Next() {
				var a, b2, c, d, e2 string
				_ = rows.Scan(&a, &b2, &c, &d, &e2)
				t.Log("file", a, b2, c, d, e2)
			}
			rows.Close()
			t.Log(e.fake.Stats(), b.owner, b.nowNanos())
		}
	}()
	waitFor(t, "leftovers cleaned", func() bool {
		st := e.fake.Stats()
		return st["vector_stores_alive"] == int64(b.liveStores(t)) && st["files_alive"] == int64(b.attachedFiles(t))
	})
	if st := e.fake.Stats(); st["vector_stores_alive"] != 1 {
		t.Fatalf("want only the session's own (recorded, live) store left: %v", st)
	}
	// The session continues on its store; then the TTL takes everything.
	att, err := b.Attach(testCtx(t), req)
	if err != nil || att.Uploaded+att.Reused != 30 || len(att.Failed) != 0 {
		t.Fatalf("attach after recovery = %+v, %v", att, err)
	}
	if st := e.fake.Stats(); st["vector_stores_created"] != 3 {
		t.Fatalf("session did not reuse its store: %v", st)
	}
	clk.Advance(DefaultStoreTTL + time.Minute)
	b.Kick()
	waitFor(t, "no orphans at the fake", func() bool {
		st := e.fake.Stats()
		return st["vector_stores_alive"] == 0 && st["files_alive"] == 0
	})
}

// TestLifecycle_CrashRecoveryEmptyStore: a run that crashed before any of
// its session's files were attached left an empty store; once the run's
// heartbeat is stale the store is deleted (nothing in it to keep) and the
// session continues on a new one.
func TestLifecycle_CrashRecoveryEmptyStore(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	// Every upload stalls: no file can reach the store.
	e := newEnv(t, clk, fakeai.Faults{Stall: fakeai.Rule{Count: -1, Paths: []string{"POST /v1/files"}}})
	a := e.manager(t, Options{})
	dir, files := project(t, 3)
	req := AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := a.Attach(ctx, req); done <- err }()
	// Uploads start once the store is created and recorded live.
	waitFor(t, "uploads stalled", func() bool { return e.fake.Stats()["stalled"] >= 1 })
	cancel()
	<-done
	a.abandon()
	if st := e.fake.Stats(); st["vector_stores_alive"] != 1 || st["files_alive"] != 0 || a.liveStores(t) != 1 || a.attachedFiles(t) != 0 {
		t.Fatalf("crash left %v; want one empty live store", st)
	}

	e.fake.SetFaults(fakeai.Faults{})
	b := e.manager(t, Options{})
	clk.Advance(15 * time.Minute)
	b.Kick()
	waitFor(t, "the dead run's empty store deleted", func() bool { return e.fake.Stats()["vector_stores_alive"] == 0 })
	att, err := b.Attach(testCtx(t), req)
	if err != nil || att.Uploaded != 3 || len(att.Failed) != 0 {
		t.Fatalf("attach after recovery = %+v, %v", att, err)
	}
	if st := e.fake.Stats(); st["vector_stores_created"] != 2 || st["vector_stores_alive"] != 1 {
		t.Fatalf("session did not get a new store: %v", st)
	}
}

func TestLifecycle_DeleteStall(t *testing.T) {
	clk := clock.NewScaled(1000)
	for _, tc := range []struct {
		name  string
		stall fakeai.Rule
	}{
		{"one stalled delete is retried", fakeai.Rule{Count: 1}},
		{"every delete stalls: Close is bounded, next run deletes", fakeai.Rule{Count: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, clk, fakeai.Faults{DeleteStall: tc.stall})
			m := e.manager(t, Options{StoreTTL: 10 * time.Minute, DeleteTimeout: 100 * time.Millisecond, RetryBase: time.Second})
			dir, files := project(t, 3)
			req := AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files}
			// A request cancelled right after its call must not matter to deletes.
			if _, err := m.Attach(testCtx(t), req); err != nil {
				t.Fatal(err)
			}
			if tc.stall.Count > 0 {
				waitFor(t, "store deleted despite the stall", func() bool {
					st := e.fake.Stats()
					return st["vector_stores_alive"] == 0 && st["files_alive"] == 0 && st["stalled"] >= 1
				})
				return
			}
			waitFor(t, "delete stalled", func() bool { return e.fake.Stats()["stalled"] >= 1 })
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := m.Close(ctx)
			t.Logf("Close with stalled deletes: %v after %v", err, time.Since(start))
			if time.Since(start) > 3*time.Second {
				t.Fatalf("Close took %v", time.Since(start))
			}
			e.fake.SetFaults(fakeai.Faults{})
			m2 := e.manager(t, Options{StoreTTL: 10 * time.Minute})
			_ = m2
			waitFor(t, "next run finished the delete", func() bool {
				st := e.fake.Stats()
				return st["vector_stores_alive"] == 0 && st["files_alive"] == 0
			})
		})
	}
}

func TestManager_CloseIdempotentAndRefuses(t *testing.T) {
	e := newEnv(t, clock.NewFake(time.Unix(1e9, 0)), fakeai.Faults{})
	m := e.manager(t, Options{})
	for i := range 2 {
		if err := m.Close(testCtx(t)); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	_, err := m.Attach(testCtx(t), AttachRequest{Project: "/p", Files: []File{{Path: "/p/x"}}})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Attach after Close = %v", err)
	}
	_ = fmt.Sprint()
}

// TestLifecycle_SweepSparesReservedStore: a sweep that runs between a
// store's reservation and its provider call must not take the fresh
// "creating" record for a crashed run's leftover. It once did (1 run in
// ~100 of TestLifecycle_StoreLimit): the record was dropped, the store
// created anyway and leaked, and the caller got "not live after creation".
func TestLifecycle_SweepSparesReservedStore(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	e := newEnv(t, clk, fakeai.Faults{})
	m := e.manager(t, Options{})
	ctx := testCtx(t)
	nonce, err := m.reserveStore(ctx, storeRow{Kind: kindSession, Project: "/p", Tool: "t", SessionID: "s"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.sweepOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	if rs, err := m.queryStores(ctx, `nonce=?`, nonce); err != nil || len(rs) != 1 || rs[0].State != stateCreating {
		t.Fatalf("reserved record after a sweep: %+v, %v; want it still creating", rs, err)
	}
	if err := m.providerCreate(ctx, nonce); err != nil {
		t.Fatal(err)
	}
	if rs, err := m.queryStores(ctx, `nonce=?`, nonce); err != nil || len(rs) != 1 || rs[0].State != stateLive {
		t.Fatalf("record after create: %+v, %v; want live", rs, err)
	}
}

// A server killed mid-upload left its uploads for 10 minutes plus 3 of
// heartbeat silence. Its process is recorded: a restarted server sees it
// gone and cleans up at once, with the clock standing still. (A live
// server's fresh uploads are left alone: TestLifecycle_CrashRecovery's
// first manager shares this process and is cleaned only once its heartbeat
// is stale.)
func TestLifecycle_KilledRunCleanedAtOnce(t *testing.T) {
	clk := clock.NewFake(time.Unix(1e9, 0))
	e := newEnv(t, clk, fakeai.Faults{Stall: fakeai.Rule{Every: 3, Paths: []string{"POST /v1/files"}}})
	killed := e.manager(t, Options{})
	dir, files := project(t, 30)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := killed.Attach(ctx, AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files})
		done <- err
	}()
	waitFor(t, "uploads under way", func() bool { return e.fake.Stats()["files_uploaded"] >= 15 })
	cancel()
	<-done
	killed.abandon()
	// Its process: this pid, started at another time — a pid the kernel
	// has since given to another process.
	boot, _, ok := strings.Cut(procid.ID(os.Getpid()), ":")
	if !ok {
		t.Skip("no /proc: liveness rests on the heartbeat here")
	}
	gone := fmt.Sprintf("%s:%d:1", boot, os.Getpid())
	if _, err := killed.db.Exec(`UPDATE vs_owners SET process=? WHERE owner=?`, gone, killed.owner); err != nil {
		t.Fatal(err)
	}
	left := e.fake.Stats()["files_alive"]
	if left == 0 {
		t.Fatal("the killed run left no files to clean")
	}

	e.fake.SetFaults(fakeai.Faults{})
	restarted := e.manager(t, Options{})
	waitFor(t, "the killed run's uploads and empty store deleted", func() bool {
		st := e.fake.Stats()
		return st["files_alive"] == int64(restarted.attachedFiles(t)) && st["vector_stores_alive"] == int64(restarted.liveStores(t))
	})
	// What stays is the session's recorded store with the files it got
	// (the session may continue on it; its TTL ends it otherwise).
	if st := e.fake.Stats(); st["files_deleted"] == 0 || st["vector_stores_alive"] > 1 {
		t.Errorf("after the restart, with no time passed: %v; want the unattached uploads deleted", st)
	}
}
