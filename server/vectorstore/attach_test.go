package vectorstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

func TestUploadName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/p/a.go", "a.go"},
		{"/p/config.yaml", "config.yaml.txt"},
		{"/p/Cargo.toml", "Cargo.toml.txt"},
		{"/p/main.rs", "main.rs.txt"},
		{"/p/Makefile", "Makefile.txt"},
		{"/p/README.MD", "README.MD"},
	} {
		if got := uploadName(tc.in); got != tc.want {
			t.Errorf("uploadName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAttach_DedupChangeAndRestart(t *testing.T) {
	e := newEnv(t, clock.NewFake(time.Unix(1e9, 0)), fakeai.Faults{})
	m := e.manager(t, Options{})
	dir, files := project(t, 30)
	writeFile(t, dir+"/empty.go", "")
	files = append(files, File{Path: dir + "/empty.go"}, File{Path: dir + "/missing.go"})
	req := AttachRequest{Project: dir, Tool: "chat_with_o3", SessionID: "s1", Files: files}

	att, err := m.Attach(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if att.Uploaded != 30 || att.Reused != 0 || len(att.VectorStoreIDs) != 1 {
		t.Fatalf("first attach = %+v", att)
	}
	var failed []string
	for _, f := range att.Failed {
		failed = append(failed, f.Path)
	}
	slices.Sort(failed)
	if want := []string{dir + "/empty.go", dir + "/missing.go"}; !slices.Equal(failed, want) {
		t.Fatalf("failed = %v, want %v", failed, want)
	}
	st := e.fake.Stats()
	if st["files_uploaded"] != 30 || st["vector_store_files_attached"] != 30 {
		t.Fatalf("fake stats after first attach: %v", st)
	}
	// Unsupported extensions went up under a .txt name, none dropped.
	names := map[string]bool{}
	pager := e.client.Files.ListAutoPaging(testCtx(t), openai.FileListParams{})
	for pager.Next() {
		names[pager.Current().Filename] = true
	}
	for _, want := range []string{"f002.yaml.txt", "f003.toml.txt", "f004.rs.txt", "f005.txt", "f000.go", "f001.md"} {
		if !names[want] {
			t.Errorf("no uploaded file named %q (have %v)", want, names)
		}
	}

	// Same files again: nothing uploaded.
	att2, err := m.Attach(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if att2.Uploaded != 0 || att2.Reused != 30 || att2.VectorStoreIDs[0] != att.VectorStoreIDs[0] {
		t.Fatalf("second attach = %+v (first %+v)", att2, att)
	}
	if n := e.fake.Stats()["files_uploaded"]; n != 30 {
		t.Fatalf("files_uploaded after second attach = %d, want 30", n)
	}

	// A changed file is uploaded again and its old version removed.
	writeFile(t, files[0].Path, "changed content")
	att3, err := m.Attach(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if att3.Uploaded != 1 || att3.Reused != 29 {
		t.Fatalf("attach after change = %+v", att3)
	}
	waitFor(t, "old version deleted", func() bool { return e.fake.Stats()["files_alive"] == 30 })

	// Restart: a new manager on the same database reuses everything.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_ = e.db.Close()
	e.db = openDB(t, e.dbPath)
	m2 := e.manager(t, Options{})
	att4, err := m2.Attach(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if att4.Uploaded != 0 || att4.Reused != 30 || att4.VectorStoreIDs[0] != att.VectorStoreIDs[0] {
		t.Fatalf("attach after restart = %+v", att4)
	}
	if st := e.fake.Stats(); st["files_uploaded"] != 31 || st["vector_stores_created"] != 1 {
		t.Fatalf("fake stats after restart: %v", st)
	}

	// Another session of the same project reuses the uploads (no upload).
	req.SessionID = "s2"
	att5, err := m2.Attach(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if att5.Uploaded != 0 || att5.Reused != 30 || att5.VectorStoreIDs[0] == att.VectorStoreIDs[0] {
		t.Fatalf("other session = %+v", att5)
	}
}

func TestAttach_FaultsRetriedOrReported(t *testing.T) {
	for _, tc := range []struct {
		name       string
		faults     fakeai.Faults
		wantFailed []string
		wantStat   string
	}{
		{name: "429 on uploads with Retry-After",
			faults:   fakeai.Faults{RateLimit: fakeai.Rule{Count: 5, Paths: []string{"POST /v1/files"}, RetryAfter: fakeai.Duration(2 * time.Second)}},
			wantStat: "rate_limited"},
		{name: "5xx burst on batches",
			faults:   fakeai.Faults{ServerErrors: fakeai.Rule{Count: 2, Paths: []string{"POST /v1/vector_stores/*/file_batches"}, Status: 503}},
			wantStat: "server_errors"},
		{name: "files failing indexing are reported by name",
			faults:     fakeai.Faults{FailFiles: []string{"f007.*", "f011.*"}},
			wantFailed: []string{"f007.md", "f011"},
			wantStat:   "vector_store_files_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, clock.NewScaled(1000), tc.faults)
			m := e.manager(t, Options{RetryBase: 100 * time.Millisecond})
			dir, files := project(t, 25)
			att, err := m.Attach(testCtx(t), AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range att.Failed {
				failed = append(failed, strings.TrimPrefix(f.Path, dir+"/"))
				if f.Reason == "" {
					t.Errorf("no reason for %s", f.Path)
				}
			}
			slices.Sort(failed)
			if !slices.Equal(failed, tc.wantFailed) {
				t.Fatalf("failed = %v, want %v (%+v)", failed, tc.wantFailed, att.Failed)
			}
			if want := 25 - len(tc.wantFailed); att.Uploaded != want {
				t.Fatalf("uploaded = %d, want %d", att.Uploaded, want)
			}
			// Files that failed are not left at the provider.
			waitFor(t, "failed uploads deleted", func() bool { return e.fake.Stats()["files_alive"] == 25-int64(len(tc.wantFailed)) })
			if st := e.fake.Stats(); st[tc.wantStat] == 0 {
				t.Fatalf("fault %s never hit: %v", tc.wantStat, st)
			}
		})
	}
}

func TestAttach_ThrottleCompletes(t *testing.T) {
	clk := clock.NewScaled(200)
	e := newEnv(t, clk, fakeai.Faults{UploadLatency: fakeai.Duration(time.Second), ThrottleAfterUploads: 20})
	m := e.manager(t, Options{})
	dir, files := project(t, 90)
	att, err := m.Attach(testCtx(t), AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files})
	if err != nil {
		t.Fatal(err)
	}
	if att.Uploaded != 90 || len(att.Failed) != 0 {
		t.Fatalf("attach = %+v", att)
	}
	if st := e.fake.Stats(); st["uploads_throttled"] == 0 {
		t.Fatalf("throttle never engaged: %v", st)
	}
}

func TestAttach_CancelMidUploadThenNextCallWorks(t *testing.T) {
	clk := clock.NewScaled(1)
	// Uploads take an hour: the call can only end by cancellation.
	e := newEnv(t, clk, fakeai.Faults{UploadLatency: fakeai.Duration(time.Hour)})
	m := e.manager(t, Options{})
	dir, files := project(t, 90)
	req := AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Attach(ctx, req)
		done <- err
	}()
	waitFor(t, "uploads in flight", func() bool { return e.fake.Stats()["requests_total"] >= DefaultMaxUploads })
	start := time.Now()
	cancel()
	err := <-done
	took := time.Since(start)
	t.Logf("cancel → Attach returned in %v", took)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Attach after cancel = %v, want context.Canceled", err)
	}
	if took > time.Second { // DESIGN: p99 ≤ 100 ms; generous bound for a noisy 2-core machine
		t.Fatalf("Attach took %v to return after cancel", took)
	}
	// Nothing held: the next call on the same session proceeds at once.
	e.fake.SetFaults(fakeai.Faults{})
	att, err := m.Attach(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if att.Uploaded+att.Reused != 90 || len(att.Failed) != 0 {
		t.Fatalf("attach after cancel = %+v", att)
	}
}

func TestSearch_MergesStores(t *testing.T) {
	e := newEnv(t, clock.NewScaled(1000), fakeai.Faults{})
	m := e.manager(t, Options{})
	dirA, _ := project(t, 0)
	writeFile(t, dirA+"/a.md", "apple apple apple banana")
	writeFile(t, dirA+"/b.md", "apple cherry")
	a, err := m.Attach(testCtx(t), AttachRequest{Project: dirA, Tool: "t", SessionID: "1", Files: []File{{Path: dirA + "/a.md"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Attach(testCtx(t), AttachRequest{Project: dirA, Tool: "t", SessionID: "2", Files: []File{{Path: dirA + "/b.md"}}})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := m.Search(testCtx(t), append(a.VectorStoreIDs, b.VectorStoreIDs...), "apple", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].Filename != "a.md" || hits[1].Filename != "b.md" || hits[0].Score < hits[1].Score {
		t.Fatalf("hits = %+v", hits)
	}
	hits, err = m.Search(testCtx(t), append(a.VectorStoreIDs, b.VectorStoreIDs...), "apple", 1)
	if err != nil || len(hits) != 1 {
		t.Fatalf("max 1: %+v %v", hits, err)
	}
}

// Two calls share the manager's upload bound: never more than MaxUploads
// file uploads are in flight, whatever the calls and batches.
func TestAttach_UploadsBoundedAcrossCalls(t *testing.T) {
	const bound = 4
	f := fakeai.New(fakeai.WithClock(clock.NewScaled(50)), fakeai.WithFaults(fakeai.Faults{UploadLatency: fakeai.Duration(time.Second)}))
	var inFlight, most atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/files" {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = f.Close() })
	e := newEnv(t, clock.NewScaled(50), fakeai.Faults{})
	e.client = openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("test-key"), option.WithHTTPClient(ts.Client()))
	m := e.manager(t, Options{MaxUploads: bound})
	dir, files := project(t, 30)
	var wg sync.WaitGroup
	for _, session := range []string{"a", "b"} {
		wg.Go(func() {
			att, err := m.Attach(testCtx(t), AttachRequest{Project: dir, Tool: session, SessionID: session, Files: files})
			if err != nil || att.Uploaded+att.Reused != 30 {
				t.Errorf("attach %s = %+v, %v", session, att, err)
			}
		})
	}
	wg.Wait()
	if got := most.Load(); got != bound {
		t.Fatalf("at most %d uploads were in flight at once, want the bound %d", got, bound)
	}
}
