package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/memory"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

type stubMemory struct {
	mu        sync.Mutex
	exchanges []memory.Exchange
	queries   []string
}

func (m *stubMemory) Remember(ex memory.Exchange) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exchanges = append(m.exchanges, ex)
	return true
}

func (m *stubMemory) SearchHistory(ctx context.Context, project string, queries []string, n int, types []string) ([]vectorstore.SearchHit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries = append(m.queries, queries...)
	return []vectorstore.SearchHit{{Filename: "conversation-1", Score: 1, Text: "we chose SQLite"}}, nil
}

func TestMemory_RememberedAndSearchable(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	mem := &stubMemory{}
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) { o.Memory = mem })

	r := e.call("search_project_history", map[string]any{"query": "database; sessions"})
	mem.mu.Lock()
	queries := append([]string(nil), mem.queries...)
	mem.mu.Unlock()
	if r.IsError || !strings.Contains(textOf(r), "we chose SQLite") || len(queries) != 2 {
		t.Errorf("search_project_history: %s (queries %v)", textOf(r), queries)
	}
	echo := echoOf(t, e.call("chat_with_gemini25_pro", chatArgs("m1")))
	if strings.Join(echo.Tools, ",") != "search_project_history" || echo.ToolResults != 1 {
		t.Errorf("memory function not offered/run: tools %v results %d", echo.Tools, echo.ToolResults)
	}
	a := chatArgs("m2")
	a["disable_memory_search"] = "true"
	if echo := echoOf(t, e.call("chat_with_gemini25_pro", a)); len(echo.Tools) != 0 {
		t.Errorf("disable_memory_search ignored: tools %v", echo.Tools)
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if len(mem.exchanges) != 2 || mem.exchanges[0].Tool != "chat_with_gemini25_pro" {
		t.Errorf("exchanges remembered: %+v", mem.exchanges)
	}
}

// With the real writer over a real manager, a memory store that vanished at
// the provider is skipped and named; the search still answers (QA: it failed
// whole with "cannot search vector store vs_…: 404").
func TestMemory_SearchSkipsVanishedStore(t *testing.T) {
	var w *memory.Writer
	e, _, oa := resetEnv(t, func(o *server.Options, mgr *vectorstore.Manager) {
		w = memory.New(mgr, memory.Options{CommitInterval: -1, Logger: slog.New(slog.DiscardHandler)})
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close(context.Background()) })
		o.Memory, o.HistoryReports = w, w
	})
	for _, q := range []string{"walrus", "narwhal"} {
		a := chatArgs("mem-"+q, filepath.Join(e.project, "a.go"))
		a["instructions"] = "Think about the " + q + " design."
		a["disable_memory_search"] = true
		if r := e.call("chat_small_o3", a); r.IsError {
			t.Fatal(textOf(r))
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.Stats().Written < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("memories not written: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ids, err := w.SearchHistoryReport(context.Background(), e.project, []string{"walrus"}, 5, nil)
	if err != nil || len(ids.Hits) == 0 {
		t.Fatalf("search before the loss: %+v, %v", ids, err)
	}
	list, err := oa.VectorStores.List(context.Background(), openai.VectorStoreListParams{})
	if err != nil || len(list.Data) != 1 {
		t.Fatalf("stores at the fake: %+v, %v", list, err)
	}
	store := list.Data[0].ID
	if _, err := oa.VectorStores.Delete(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	r := e.call("search_project_history", map[string]any{"query": "walrus"})
	txt := textOf(r)
	if r.IsError || !strings.Contains(txt, `"missing_stores"`) || !strings.Contains(txt, store) || !strings.Contains(txt, `"results": []`) {
		t.Errorf("search after the store vanished: %s", txt)
	}
}
