package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// stubAttacher records what it was asked to attach and answers searches.
type stubAttacher struct {
	storeID  string
	mu       sync.Mutex
	attached []string
	searches []string
	fail     string // a path reported as failed
}

func (a *stubAttacher) Attach(ctx context.Context, req vectorstore.AttachRequest) (vectorstore.Attachment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	att := vectorstore.Attachment{VectorStoreIDs: []string{a.storeID}}
	for _, f := range req.Files {
		a.attached = append(a.attached, filepath.Base(f.Path))
		if strings.HasSuffix(f.Path, a.fail) {
			att.Failed = append(att.Failed, vectorstore.FailedFile{Path: f.Path, Reason: "provider refused it"})
			continue
		}
		att.Uploaded++
	}
	return att, nil
}

func (a *stubAttacher) Search(ctx context.Context, ids []string, query string, n int) ([]vectorstore.SearchHit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.searches = append(a.searches, query)
	return []vectorstore.SearchHit{{FileID: "f1", Filename: "big1.txt", Score: 0.9, Text: "found it"}}, nil
}

// With a tiny window, files overflow: OpenAI models get file_search over
// the attached stores, chat models a search_task_files function that the
// server runs; failed uploads are reported, nothing is dropped silently.
func TestOverflow_AttachedAndSearchable(t *testing.T) {
	project := newProject(t)
	for i := 1; i <= 3; i++ {
		body := strings.Repeat(fmt.Sprintf("line %d of a long file\n", i), 400)
		if err := os.WriteFile(filepath.Join(project, fmt.Sprintf("big%d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, base := startFake(t)
	oa := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("k"))
	vs, err := oa.VectorStores.New(context.Background(), openai.VectorStoreNewParams{Name: openai.String("stub")})
	if err != nil {
		t.Fatal(err)
	}
	att := &stubAttacher{fail: "big3.txt", storeID: vs.ID}
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) {
		o.Attacher = att
		o.Models = []server.Model{
			{Tool: "chat_small_o3", Model: "o3", Provider: server.ProviderOpenAI, API: server.APIResponses, Window: 3000, Timeout: time.Minute},
			{Tool: "chat_small_grok", Model: "grok-4", Provider: server.ProviderXAI, API: server.APIChat, Window: 3000, Timeout: time.Minute},
		}
	})
	r := e.call("chat_small_o3", chatArgs("o1", project))
	echo, meta := echoOf(t, r), metaOf(t, r)
	if len(meta.Overflow) != 2 || !meta.OverflowAttached || strings.Join(echo.VectorStoreIDs, ",") != vs.ID {
		t.Errorf("o3: overflow %v attached %v; echo stores %v", meta.Overflow, meta.OverflowAttached, echo.VectorStoreIDs)
	}
	if len(meta.FailedUploads) != 1 || !strings.HasSuffix(meta.FailedUploads[0].Path, "big3.txt") {
		t.Errorf("failed upload not reported: %+v", meta.FailedUploads)
	}
	for _, f := range echo.InlinedFiles {
		for _, o := range meta.Overflow {
			if f == o {
				t.Errorf("overflow file %s was also inlined", f)
			}
		}
	}

	desc := e.call("describe_session", map[string]any{"session_id": "o1"})
	if !strings.Contains(textOf(desc), "provider refused it") || !strings.Contains(textOf(desc), vs.ID) {
		t.Errorf("describe_session does not show the store and the failed upload: %s", textOf(desc))
	}

	g := e.call("chat_small_grok", chatArgs("g1", project))
	gecho, gmeta := echoOf(t, g), metaOf(t, g)
	if strings.Join(gecho.Tools, ",") != "search_task_files" || gecho.ToolResults != 1 {
		t.Errorf("grok: tools offered %v, tool results %d", gecho.Tools, gecho.ToolResults)
	}
	if strings.Join(gmeta.ToolCalls, ",") != "search_task_files" || len(att.searches) != 1 {
		t.Errorf("grok: tool calls %v, searches %v", gmeta.ToolCalls, att.searches)
	}
}

func TestOverflow_NoAttacherReportsNotAttached(t *testing.T) {
	project := newProject(t)
	if err := os.WriteFile(filepath.Join(project, "big.txt"), []byte(strings.Repeat("word ", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) {
		o.Models = []server.Model{{Tool: "chat_small", Model: "o3", Provider: server.ProviderOpenAI, API: server.APIResponses, Window: 3000, Timeout: time.Minute}}
	})
	meta := metaOf(t, e.call("chat_small", chatArgs("n1", project)))
	if strings.Join(meta.Overflow, ",") != "big.txt" || meta.OverflowAttached || !strings.Contains(meta.OverflowNote, "not attached") {
		t.Errorf("overflow %v attached %v note %q", meta.Overflow, meta.OverflowAttached, meta.OverflowNote)
	}
}
