package session_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStore_KeyedByProjectToolAndSession(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := session.Open(ctx, path, session.Options{Clock: clk, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := &session.Record{Key: session.Key{Project: "/p", Tool: "chat_with_o3", SessionID: "s"}, PreviousResponseID: "resp_a",
		Inline: map[string]session.Stamp{"/p/a.go": {Size: 3, ModTime: time.Unix(5, 0).UTC()}}}
	b := &session.Record{Key: session.Key{Project: "/p", Tool: "chat_with_grok4", SessionID: "s"},
		History: []session.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "yo"}}}
	for _, r := range []*session.Record{a, b} {
		if err := st.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	// Survives a restart.
	st, err = session.Open(ctx, path, session.Options{Clock: clk, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, ok, err := st.Get(ctx, a.Key)
	if err != nil || !ok {
		t.Fatalf("Get(a) = %v, %v", ok, err)
	}
	if got.PreviousResponseID != "resp_a" || len(got.History) != 0 || got.Inline["/p/a.go"].Size != 3 {
		t.Errorf("session a = %+v", got)
	}
	got, ok, _ = st.Get(ctx, b.Key)
	if !ok || got.PreviousResponseID != "" || len(got.History) != 2 {
		t.Errorf("session b = %+v (ok %v): the two tools' sessions collided", got, ok)
	}
	list, err := st.List(ctx, "/p")
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}

	// Expiry: idle past the TTL is gone, and Cleanup deletes it.
	clk.Advance(2 * time.Hour)
	if _, ok, _ := st.Get(ctx, a.Key); ok {
		t.Error("expired session still returned")
	}
	n, err := st.Cleanup(ctx)
	if err != nil || n != 2 {
		t.Errorf("Cleanup = %d, %v; want 2", n, err)
	}
}

func TestStore_RunCleanupStopsWithContext(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	st, err := session.Open(context.Background(), ":memory:", session.Options{Clock: clk, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.Put(context.Background(), &session.Record{Key: session.Key{Project: "p", Tool: "t", SessionID: "x"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.RunCleanup(ctx, 10*time.Minute, func(err error) { t.Error(err) }) }()
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var rows int
		if err := st.DB().QueryRow(`SELECT count(*) FROM sessions`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cleanup loop did not delete the expired session")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

// One SQLite connection (QA: 8 handles open after an overflow call; SQLite
// has one writer anyway) in WAL mode with synchronous=NORMAL.
func TestOpen_OneConnectionWAL(t *testing.T) {
	ctx := context.Background()
	st, err := session.Open(ctx, filepath.Join(t.TempDir(), "s.db"), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := st.DB().Stats().MaxOpenConnections; got != 1 {
		t.Errorf("max open connections = %d, want 1", got)
	}
	var mode string
	var syncMode int
	if err := st.DB().QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&syncMode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || syncMode != 1 {
		t.Errorf("journal_mode %q synchronous %d, want wal and 1 (NORMAL)", mode, syncMode)
	}
	// Sessions still work concurrently through the one connection.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &session.Record{Key: session.Key{Project: "/p", Tool: "t", SessionID: fmt.Sprint(i)}, Model: "m"}
			if err := st.Put(ctx, rec); err != nil {
				t.Error(err)
			}
			if _, err := st.List(ctx, "/p"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
