package vectorstore

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is one fake API, one SQLite database and the client to reach the fake.
type env struct {
	fake   *fakeai.Server
	client openai.Client
	dbPath string
	db     *sql.DB
	clk    clock.Clock
}

func newEnv(t testing.TB, clk clock.Clock, faults fakeai.Faults) *env {
	t.Helper()
	f := fakeai.New(fakeai.WithClock(clk), fakeai.WithFaults(faults))
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = f.Close() })
	c := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("test-key"),
		option.WithHTTPClient(ts.Client()))
	e := &env{fake: f, client: c, dbPath: filepath.Join(t.TempDir(), "sb.db"), clk: clk}
	e.db = openDB(t, e.dbPath)
	return e
}

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; more connections only add SQLITE_BUSY sleeps
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// manager makes a started manager; it is closed at cleanup unless closed before.
func (e *env) manager(t testing.TB, o Options) *Manager {
	t.Helper()
	if o.Clock == nil {
		o.Clock = e.clk
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := NewManager(testCtx(t), e.client, e.db, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// project writes n small files of several kinds into a temp directory.
func project(t testing.TB, n int) (string, []File) {
	t.Helper()
	dir := t.TempDir()
	exts := []string{".go", ".md", ".yaml", ".toml", ".rs", ""}
	var files []File
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%03d%s", i, exts[i%len(exts)]))
		writeFile(t, p, fmt.Sprintf("file %d says hello world number %d\n", i, i))
		files = append(files, File{Path: p})
	}
	return dir, files
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond (real time) until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// abandon simulates a crash: background work stops, nothing is cleaned up,
// the owner's heartbeat row stays behind.
func (m *Manager) abandon() {
	m.mu.Lock()
	m.closed = true
	if m.stopLoop != nil {
		m.stopLoop()
	}
	m.mu.Unlock()
	m.bgCancel()
	m.wg.Wait()
}

func (m *Manager) liveStores(t testing.TB) int {
	t.Helper()
	var n int
	if err := m.db.QueryRow(`SELECT COUNT(*) FROM vs_stores WHERE state IN ('live','retired')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// attachedFiles counts the distinct files recorded in some store.
func (m *Manager) attachedFiles(t testing.TB) int {
	t.Helper()
	var n int
	if err := m.db.QueryRow(`SELECT COUNT(DISTINCT file_id) FROM vs_store_files`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
