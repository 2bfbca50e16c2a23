package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// swappableFake serves whichever fake is current at one URL: replacing it
// is a provider that lost its state (the in-process fake after a restart).
type swappableFake struct{ cur atomic.Pointer[fakeai.Server] }

func (s *swappableFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.cur.Load().ServeHTTP(w, r)
}

func (s *swappableFake) replace(t *testing.T) *fakeai.Server {
	f := fakeai.New()
	t.Cleanup(func() { _ = f.Close() })
	if old := s.cur.Swap(f); old != nil {
		_ = old.Close()
	}
	return f
}

// resetEnv: a small-window o3 tool, a real vector-store manager, a fake
// that can lose its state.
func resetEnv(t *testing.T, tweak ...func(*server.Options, *vectorstore.Manager)) (*env, *swappableFake, openai.Client) {
	t.Helper()
	project := newProject(t)
	for i := 1; i <= 2; i++ {
		body := strings.Repeat(fmt.Sprintf("overflow line %d of a long file\n", i), 400)
		if err := os.WriteFile(filepath.Join(project, fmt.Sprintf("big%d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sw := &swappableFake{}
	sw.replace(t)
	ts := httptest.NewServer(sw)
	t.Cleanup(ts.Close)
	oa := openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey("k"), option.WithHTTPClient(ts.Client()))
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), ts.URL, "k", func(o *server.Options) {
		mgr, err := vectorstore.NewManager(context.Background(), oa, o.Sessions.DB(), vectorstore.Options{
			Clock: clock.NewScaled(1000), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = mgr.Close(ctx)
		})
		o.Attacher, o.StoreChecker, o.SessionStores = mgr, mgr, mgr
		for _, f := range tweak {
			f(o, mgr)
		}
		o.Models = []server.Model{{Tool: "chat_small_o3", Model: "o3", Provider: server.ProviderOpenAI, API: server.APIResponses,
			Window: 3000, Timeout: time.Minute}}
	})
	return e, sw, oa
}

// QA: after the provider lost its state, continuing a session failed with
// "404 Not Found" and the metadata claimed files reused in a store that no
// longer existed. Now the conversation starts afresh: previous response
// dropped, every file sent again, overflow attached to a new store, and the
// reply says so.
func TestChat_ProviderLostStateStartsAfresh(t *testing.T) {
	e, sw, _ := resetEnv(t)
	r1 := e.call("chat_small_o3", chatArgs("r1", e.project))
	e1, m1 := echoOf(t, r1), metaOf(t, r1)
	if len(m1.Overflow) != 2 || !m1.OverflowAttached || len(e1.InlinedFiles) == 0 || e1.StoreFiles != 2 {
		t.Fatalf("first call: overflow %v attached %v inlined %v store files %d", m1.Overflow, m1.OverflowAttached, e1.InlinedFiles, e1.StoreFiles)
	}
	if e2 := echoOf(t, e.call("chat_small_o3", chatArgs("r1", e.project))); e2.PreviousResponseID == "" || len(e2.InlinedFiles) != 0 {
		t.Fatalf("second call did not continue: %+v", e2)
	}

	fresh := sw.replace(t) // the provider restarts empty

	r3 := e.call("chat_small_o3", chatArgs("r1", e.project))
	if r3.IsError {
		t.Fatalf("call after the provider lost its state failed: %s", textOf(r3))
	}
	e3, m3 := echoOf(t, r3), metaOf(t, r3)
	if !strings.Contains(m3.SessionReset, "previous response expired at the provider") {
		t.Errorf("session_reset = %q", m3.SessionReset)
	}
	if e3.PreviousResponseID != "" || m3.PreviousResponseID != "" {
		t.Errorf("stale previous_response_id still sent: echo %q meta %q", e3.PreviousResponseID, m3.PreviousResponseID)
	}
	if strings.Join(sorted(e3.InlinedFiles), ",") != strings.Join(sorted(e1.InlinedFiles), ",") || len(m3.Unchanged) != 0 {
		t.Errorf("files not all resent: inlined %v (first call %v), unchanged %v", e3.InlinedFiles, e1.InlinedFiles, m3.Unchanged)
	}
	if m3.Uploaded != 2 || m3.Reused != 0 || e3.StoreFiles != 2 || !strings.Contains(m3.OverflowNote, "no longer existed") {
		t.Errorf("overflow after the loss: uploaded %d reused %d store files %d note %q", m3.Uploaded, m3.Reused, e3.StoreFiles, m3.OverflowNote)
	}
	if st := fresh.Stats(); st["vector_stores_created"] != 1 || st["files_uploaded"] != 2 {
		t.Errorf("new provider: stores %d files %d", st["vector_stores_created"], st["files_uploaded"])
	}
	// And the session continues normally from the new response.
	e4 := echoOf(t, e.call("chat_small_o3", chatArgs("r1", e.project)))
	if e4.PreviousResponseID != m3.ResponseID || len(e4.InlinedFiles) != 0 {
		t.Errorf("after the reset: previous %q (want %q), inlined %v", e4.PreviousResponseID, m3.ResponseID, e4.InlinedFiles)
	}
}

// A session store deleted out of band while the next call has no overflow
// of its own: file_search gets a 404; the server checks and forgets the
// store and answers without it.
func TestChat_VanishedStoreInModelCall(t *testing.T) {
	e, _, oa := resetEnv(t)
	m1 := metaOf(t, e.call("chat_small_o3", chatArgs("v1", e.project)))
	if len(m1.VectorStoreIDs) != 1 {
		t.Fatalf("no store: %+v", m1)
	}
	if _, err := oa.VectorStores.Delete(context.Background(), m1.VectorStoreIDs[0]); err != nil {
		t.Fatal(err)
	}
	r := e.call("chat_small_o3", chatArgs("v1", filepath.Join(e.project, "a.go")))
	if r.IsError {
		t.Fatalf("call failed: %s", textOf(r))
	}
	ec, m := echoOf(t, r), metaOf(t, r)
	if len(ec.VectorStoreIDs) != 0 || !strings.Contains(m.SessionReset, m1.VectorStoreIDs[0]) || ec.PreviousResponseID != m1.ResponseID {
		t.Errorf("echo stores %v previous %q; session_reset %q", ec.VectorStoreIDs, ec.PreviousResponseID, m.SessionReset)
	}
}
