package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
	if r.IsError || !strings.Contains(textOf(r), "we chose SQLite") || len(mem.queries) != 2 {
		t.Errorf("search_project_history: %s (queries %v)", textOf(r), mem.queries)
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
