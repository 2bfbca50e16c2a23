package memory

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/redact"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRedact(t *testing.T) {
	r := redact.New("hunter2-literal", "ab")
	for _, tc := range []struct{ in, want string }{
		{"key sk-proj-abcdefghijklmnop1234 end", "key [REDACTED] end"},
		{"xai-ABCDEFGHIJKLMNOPQRST", "[REDACTED]"},
		{"Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9", "Authorization: [REDACTED]"},
		{"AIzaSyA1234567890abcdefghijklmnopqrstu", "[REDACTED]"},
		{"pw hunter2-literal", "pw [REDACTED]"},
		{"about ab tabs", "about ab tabs"}, // literals shorter than redact.MinSecretLen are ignored
		{"sk-short", "sk-short"},
	} {
		if got := r.RedactString(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitQueries(t *testing.T) {
	got := SplitQueries([]string{"a; b ;", "c;a", " "})
	if strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("SplitQueries = %q", got)
	}
}

type env struct {
	fake   *fakeai.Server
	client openai.Client
	vs     *vectorstore.Manager
}

func newEnv(t *testing.T, rollover int) *env {
	t.Helper()
	clk := clock.NewScaled(1000)
	f := fakeai.New(fakeai.WithClock(clk))
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = f.Close() })
	c := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("k"), option.WithHTTPClient(ts.Client()))
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := vectorstore.NewManager(context.Background(), c, db, vectorstore.Options{Clock: clk, Logger: quiet, MemoryRollover: rollover})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return &env{fake: f, client: c, vs: m}
}

func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q")
	for _, msg := range []string{"add zebra parser", "fix quokka cache"} {
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		run("add", "f.txt")
		run("commit", "-q", "-m", msg)
	}
	return dir
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriter_RemembersRollsOverAndSearchesAll(t *testing.T) {
	e := newEnv(t, 2)
	proj := gitRepo(t)
	w := New(e.vs, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Redact: []string{"s3cr3t-literal"}})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close(context.Background()) }()

	topics := []string{"walrus migration", "narwhal indexing", "platypus sharding"}
	for _, tp := range topics {
		if !w.Remember(Exchange{Project: proj, Tool: "chat_with_o3", SessionID: "s", Model: "o3",
			Question: "How about " + tp + "? key sk-abcdefghijklmnopqrstuvwx and s3cr3t-literal", Answer: "Use " + tp + " carefully."}) {
			t.Fatal("Remember dropped with an empty queue")
		}
	}
	waitFor(t, "three conversations and one commit snapshot written", func() bool {
		s := w.Stats()
		return s.Written == 3 && s.CommitSnapshots == 1
	})
	// Rollover at 2 documents: conversations span two stores, commits one.
	ids, err := e.vs.MemoryStoreIDs(context.Background(), proj, []string{TypeConversations})
	if err != nil || len(ids) != 2 {
		t.Fatalf("conversation stores = %v, %v", ids, err)
	}
	// The first topic lives in the rolled-over store: it is still found.
	hits, err := w.SearchHistory(context.Background(), proj, []string{"walrus; quokka"}, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, h := range hits {
		texts = append(texts, h.Text)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "walrus migration") || !strings.Contains(all, "fix quokka cache") {
		t.Fatalf("search missed the rolled-over conversation or the commits: %q", all)
	}
	if strings.Contains(all, "sk-abcdef") || strings.Contains(all, "s3cr3t-literal") || !strings.Contains(all, "[REDACTED]") {
		t.Fatalf("secrets were stored: %q", all)
	}
	// Only commits when asked for commits.
	hits, err = w.SearchHistory(context.Background(), proj, []string{"walrus"}, 10, []string{TypeCommits})
	if err != nil || len(hits) != 0 {
		t.Fatalf("commit-only search = %+v, %v", hits, err)
	}
}

// blockingStore never finishes a write until released: Remember must still
// return at once, the queue bound drops, and Close abandons at its deadline.
type blockingStore struct{ release chan struct{} }

func (b blockingStore) AddDocument(ctx context.Context, _, _, _ string, _ []byte) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (blockingStore) MemoryStoreIDs(context.Context, string, []string) ([]string, error) {
	return nil, nil
}
func (blockingStore) SearchReport(context.Context, []string, string, int) (vectorstore.SearchResult, error) {
	return vectorstore.SearchResult{}, nil
}

func TestWriter_NeverBlocksAndDrainsWithDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
		wantErr bool
	}{
		{"store stalls: Close gives up at its deadline", false, true},
		{"store recovers: Close drains the queue", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := blockingStore{release: make(chan struct{})}
			w := New(st, Options{QueueSize: 4, CommitInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err := w.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			accepted := 0
			start := time.Now()
			for range 20 {
				if w.Remember(Exchange{Project: "/p", Question: "q", Answer: "a"}) {
					accepted++
				}
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Fatalf("20 Remember calls took %v with a stalled store", d)
			}
			if accepted < 4 || accepted > 5 || w.Stats().Dropped != int64(20-accepted) {
				t.Fatalf("accepted %d, stats %+v", accepted, w.Stats())
			}
			if tc.release {
				close(st.release)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := w.Close(ctx)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Close = %v, want error %v", err, tc.wantErr)
			}
			s := w.Stats()
			if tc.release && s.Written != int64(accepted) {
				t.Fatalf("drained %d of %d: %+v", s.Written, accepted, s)
			}
			if w.Remember(Exchange{}) {
				t.Fatal("Remember after Close accepted")
			}
		})
	}
}

// A memory store deleted at the provider (out of band, or a fake that
// restarted) no longer fails the whole search (QA: "cannot search vector
// store vs_…: 404"): it is skipped, named in the result and forgotten, and
// the next write goes to a new store.
func TestWriter_VanishedStoreIsSkippedReportedAndReplaced(t *testing.T) {
	e := newEnv(t, 2)
	proj := gitRepo(t)
	w := New(e.vs, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close(context.Background()) }()
	for _, tp := range []string{"walrus migration", "narwhal indexing", "platypus sharding"} {
		w.Remember(Exchange{Project: proj, Tool: "chat_with_o3", SessionID: "s", Question: "About " + tp, Answer: "Use " + tp})
	}
	waitFor(t, "three conversations written", func() bool { return w.Stats().Written == 3 })
	ctx := context.Background()
	ids, err := e.vs.MemoryStoreIDs(ctx, proj, []string{TypeConversations})
	if err != nil || len(ids) != 2 {
		t.Fatalf("conversation stores = %v, %v", ids, err)
	}
	// The live store (the newer one, holding "platypus") vanishes.
	if _, err := e.client.VectorStores.Delete(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	res, err := w.SearchHistoryReport(ctx, proj, []string{"walrus; platypus; quokka"}, 10, nil)
	if err != nil {
		t.Fatalf("search failed because one store vanished: %v", err)
	}
	var all []string
	for _, h := range res.Hits {
		all = append(all, h.Text)
	}
	if strings.Join(res.MissingStores, ",") != ids[1] || !strings.Contains(strings.Join(all, "\n"), "walrus migration") ||
		!strings.Contains(strings.Join(all, "\n"), "quokka") {
		t.Fatalf("missing %v (want [%s]); hits %q", res.MissingStores, ids[1], all)
	}
	// Forgotten: no longer listed, and the next exchange lands in a new store.
	w.Remember(Exchange{Project: proj, Tool: "chat_with_o3", SessionID: "s", Question: "About axolotl caching", Answer: "Use axolotl"})
	waitFor(t, "the fourth conversation written", func() bool { s := w.Stats(); return s.Written == 4 || s.Failed > 0 })
	if s := w.Stats(); s.Failed != 0 {
		t.Fatalf("write after the store vanished failed: %+v", s)
	}
	ids2, err := e.vs.MemoryStoreIDs(ctx, proj, []string{TypeConversations})
	if err != nil || len(ids2) != 2 || ids2[0] != ids[0] || ids2[1] == ids[1] {
		t.Fatalf("stores after the loss = %v (before %v), %v", ids2, ids, err)
	}
	res, err = w.SearchHistoryReport(ctx, proj, []string{"axolotl"}, 10, []string{"conversation"})
	if err != nil || len(res.Hits) == 0 || len(res.MissingStores) != 0 {
		t.Fatalf("search in the new store: %+v, %v", res, err)
	}
}

func TestNormalizeStoreTypes(t *testing.T) {
	got, err := NormalizeStoreTypes([]string{"conversation", "Commits", "conversations"})
	if err != nil || strings.Join(got, ",") != "conversations,commits" {
		t.Fatalf("NormalizeStoreTypes = %v, %v", got, err)
	}
	if _, err := NormalizeStoreTypes([]string{"commitz"}); !errors.Is(err, ErrUnknownStoreType) || !strings.Contains(err.Error(), `"commitz"`) {
		t.Fatalf("unknown type: %v", err)
	}
}
