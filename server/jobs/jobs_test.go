package jobs_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/secondbrain-dev/secondbrain/server/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// gate is a runner that reports progress, then waits for release (or its
// ctx) and answers with the tool's name.
type gate struct {
	release chan struct{}
	started chan string
}

func newGate() *gate { return &gate{release: make(chan struct{}), started: make(chan string, 8)} }

func (g *gate) run(ctx context.Context, r jobs.Run) (json.RawMessage, error) {
	r.Progress("working on " + r.Tool)
	if r.Resume == "" {
		r.Created("resp_" + r.Tool)
	}
	g.started <- r.Tool + "|" + r.Resume
	select {
	case <-g.release:
		return json.Marshal(map[string]any{"tool": r.Tool, "args": r.Arguments})
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func waitStatus(t *testing.T, m *jobs.Manager, id, want string) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, found, err := m.Get(context.Background(), id)
		if err != nil || !found {
			t.Fatalf("Get(%s) = %v, %v", id, found, err)
		}
		if j.Status == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s stays %s (%q), want %s", id, j.Status, j.Progress, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJobs_lifecycle(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	g := newGate()
	m, err := jobs.Open(ctx, db, g.run, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)

	done, err := m.Start(ctx, "chat_with_o3", json.RawMessage(`{"q":1}`))
	if err != nil || done.Status != jobs.Queued {
		t.Fatalf("Start = %+v, %v", done, err)
	}
	<-g.started
	if j := waitStatus(t, m, done.ID, jobs.Running); j.Progress != "working on chat_with_o3" || j.ResponseID != "resp_chat_with_o3" {
		t.Errorf("progress %q, response %q", j.Progress, j.ResponseID)
	}
	close(g.release)
	j := waitStatus(t, m, done.ID, jobs.Completed)
	if string(j.Result) != `{"args":{"q":1},"tool":"chat_with_o3"}` || j.Attempts != 1 {
		t.Errorf("completed job %+v (result %s)", j, j.Result)
	}

	g2 := newGate()
	m2, err := jobs.Open(ctx, openDB(t), g2.run, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	c, _ := m2.Start(ctx, "slow", json.RawMessage(`{}`))
	<-g2.started
	if j, found, err := m2.Cancel(ctx, c.ID); err != nil || !found || j.Status != jobs.Cancelled {
		t.Fatalf("Cancel = %+v, %v, %v", j, found, err)
	}
	if j := waitStatus(t, m2, c.ID, jobs.Cancelled); j.Error == "" {
		t.Errorf("cancelled job says no why: %+v", j)
	}
	if _, found, _ := m2.Get(ctx, "job_nope"); found {
		t.Error("an unknown job was found")
	}
}

// A job whose server stopped (here: closed; a killed one leaves the same
// record) is run again by the next server on the database — only once its
// owner process is gone.
func TestJobs_resumedByTheNextServer(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	first := newGate()
	m1, err := jobs.Open(ctx, db, first.run, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := m1.Start(ctx, "research", json.RawMessage(`{"topic":"x"}`))
	<-first.started
	if err := m1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := m1.Get(ctx, j.ID); got.Status != jobs.Running {
		t.Fatalf("after the server stopped the job is %s, want still running (for the next server)", got.Status)
	}

	next := newGate()
	m2, err := jobs.Open(ctx, db, next.run, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	// Same process: its owner is alive, nothing to take over.
	if n, err := m2.Resume(ctx); err != nil || n != 0 {
		t.Fatalf("Resume with the owner alive = %d, %v", n, err)
	}
	// The owner gone (a pid reused by another process).
	if _, err := db.Exec(`UPDATE jobs SET owner = '00000000-0000-0000-0000-000000000000:1:1' WHERE id = ?`, j.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := m2.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("Resume = %d, %v; want the orphan taken over", n, err)
	}
	// It resumes the background response the killed run created.
	if got := <-next.started; got != "research|resp_research" {
		t.Fatalf("resumed %q; want research resuming resp_research", got)
	}
	close(next.release)
	done := waitStatus(t, m2, j.ID, jobs.Completed)
	if done.Attempts != 2 || string(done.Result) != `{"args":{"topic":"x"},"tool":"research"}` {
		t.Errorf("resumed job %+v (result %s)", done, done.Result)
	}
	if n, _ := m2.Resume(ctx); n != 0 {
		t.Errorf("a finished job resumed again")
	}
}
