package vectorstore

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// swappable serves whichever fake is current: replacing it is a provider
// that lost its state at the same URL (what `serve --provider fake` sees after
// a restart, with the fake's deterministic ids handed out again).
type swappable struct{ cur atomic.Pointer[fakeai.Server] }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.cur.Load().ServeHTTP(w, r) }

func newSwappable(t *testing.T, clk clock.Clock) (*swappable, openai.Client, func() *fakeai.Server) {
	t.Helper()
	sw := &swappable{}
	fresh := func() *fakeai.Server {
		f := fakeai.New(fakeai.WithClock(clk))
		t.Cleanup(func() { _ = f.Close() })
		sw.cur.Store(f)
		return f
	}
	fresh()
	ts := httptest.NewServer(sw)
	t.Cleanup(ts.Close)
	c := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("k"), option.WithHTTPClient(ts.Client()))
	return sw, c, fresh
}

// After the provider loses its state, a session's store record is not
// trusted: the store is recreated and every file uploaded again (QA: the
// reply claimed files "reused" in a store that no longer existed), even when
// the old store id now names someone else's store; and dedup records that
// point at vanished files are invalidated and re-uploaded at once.
func TestAttach_ProviderLostItsState(t *testing.T) {
	clk := clock.NewScaled(1000)
	_, client, fresh := newSwappable(t, clk)
	db := openDB(t, t.TempDir()+"/sb.db")
	m, err := NewManager(testCtx(t), client, db, Options{Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	ctx := testCtx(t)
	dir, files := project(t, 12)
	req := AttachRequest{Project: dir, Tool: "chat_with_o3", SessionID: "s1", Files: files}
	first, err := m.Attach(ctx, req)
	if err != nil || first.Uploaded != 12 {
		t.Fatalf("first attach = %+v, %v", first, err)
	}

	// The provider restarts empty; someone else's store takes the old id.
	f2 := fresh()
	other, err := client.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("not-ours")})
	if err != nil {
		t.Fatal(err)
	}
	if other.ID != first.VectorStoreIDs[0] {
		t.Logf("note: the fake did not reissue %s (got %s); the 404 path is tested instead", first.VectorStoreIDs[0], other.ID)
	}

	// Another session with the same files: the dedup records point at files
	// the provider no longer has; they are uploaded again, no error.
	req2 := req
	req2.SessionID = "s2"
	att2, err := m.Attach(ctx, req2)
	if err != nil || att2.Uploaded != 12 || att2.Reused != 0 || len(att2.Failed) != 0 {
		t.Fatalf("other session after the loss = %+v, %v", att2, err)
	}

	// The first session: its store is gone (or now someone else's).
	att, err := m.Attach(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if att.ReplacedStore != first.VectorStoreIDs[0] || len(att.VectorStoreIDs) != 1 || att.VectorStoreIDs[0] == other.ID ||
		att.Uploaded+att.Reused != 12 || len(att.Failed) != 0 {
		t.Fatalf("attach after the loss = %+v (first %+v, other store %s)", att, first, other.ID)
	}
	// Really in the new store, at the provider.
	vs, err := client.VectorStores.Get(ctx, att.VectorStoreIDs[0])
	if err != nil || vs.FileCounts.Completed+vs.FileCounts.InProgress != 12 {
		t.Fatalf("new store %s: %+v, %v", att.VectorStoreIDs[0], vs, err)
	}
	if o, err := client.VectorStores.Get(ctx, other.ID); err != nil || o.FileCounts.Total != 0 {
		t.Fatalf("someone else's store was written to: %+v, %v", o, err)
	}
	if st := f2.Stats(); st["files_uploaded"] != 12 {
		t.Errorf("files uploaded to the new provider = %d, want 12 (once, then dedup)", st["files_uploaded"])
	}
	// A later call reuses the new store.
	again, err := m.Attach(ctx, req)
	if err != nil || again.ReplacedStore != "" || again.Reused != 12 || again.VectorStoreIDs[0] != att.VectorStoreIDs[0] {
		t.Fatalf("next attach = %+v, %v", again, err)
	}
}

// A store deleted out of band is forgotten by ForgetMissingStore; one that
// still exists is left alone.
func TestForgetMissingStore(t *testing.T) {
	e := newEnv(t, clock.NewScaled(1000), fakeai.Faults{})
	m := e.manager(t, Options{})
	ctx := testCtx(t)
	dir, files := project(t, 3)
	att, err := m.Attach(ctx, AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: files})
	if err != nil {
		t.Fatal(err)
	}
	id := att.VectorStoreIDs[0]
	if gone, err := m.ForgetMissingStore(ctx, id); err != nil || gone {
		t.Fatalf("live store reported missing: %v, %v", gone, err)
	}
	if _, err := e.client.VectorStores.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if gone, err := m.ForgetMissingStore(ctx, id); err != nil || !gone {
		t.Fatalf("deleted store not reported missing: %v, %v", gone, err)
	}
	if _, found, err := m.DescribeSession(ctx, dir, "t", "s"); err != nil || found {
		t.Fatalf("records of the vanished store kept: found %v, %v", found, err)
	}
}
