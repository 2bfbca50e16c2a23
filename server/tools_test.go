package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

type env struct {
	t       testing.TB
	project string
	dbPath  string
	baseURL string
	fake    *fakeai.Server
	c       *client.Client
	srv     *server.Server
	stop    func()
}

// newProject writes a small tree: three text files, one ignored, one binary.
func newProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"a.go":        "package a\n\nfunc A() int { return 1 }\n",
		"b.md":        "# B\n\nSome notes.\n",
		"sub/c.txt":   "see also a.go\n",
		"ignored.txt": "should never be sent\n",
		".gitignore":  "ignored.txt\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "logo.png"), []byte("\x89PNG\r\n\x1a\n\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startFake(t testing.TB) (*fakeai.Server, string) {
	t.Helper()
	fake := fakeai.New()
	base, stop, err := fake.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); fake.Close() })
	return fake, base
}

func endpoints(base, key string) map[string]provider.Endpoint {
	return map[string]provider.Endpoint{
		server.ProviderOpenAI: {Name: "openai", BaseURL: base + "/v1", APIKey: key, KeyEnv: "OPENAI_API_KEY"},
		server.ProviderGemini: {Name: "gemini", BaseURL: base + "/v1", APIKey: key, KeyEnv: "GEMINI_API_KEY"},
		server.ProviderXAI:    {Name: "xai", BaseURL: base + "/v1", APIKey: key, KeyEnv: "XAI_API_KEY"},
	}
}

// startEnv runs a Server over real pipes with an mcp-go client.
func startEnv(t testing.TB, project, dbPath, base, key string, tweak ...func(*server.Options)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := session.Open(ctx, dbPath, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opt := server.Options{
		Endpoints: endpoints(base, key), Roots: []string{project}, Sessions: st,
		Poll: provider.PollPolicy{First: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}
	for _, f := range tweak {
		f(&opt)
	}
	srv, err := server.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	serveCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeStdio(serveCtx, inR, outW)
		outW.Close()
	}()
	c := client.NewClient(transport.NewIO(outR, inW, nil), client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ireq := mcp.InitializeRequest{}
	ireq.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	ireq.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "0"}
	if _, err := c.Initialize(ctx, ireq); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, project: project, dbPath: dbPath, baseURL: base, c: c, srv: srv}
	var once bool
	e.stop = func() {
		if once {
			return
		}
		once = true
		c.Close()
		cancel()
		<-done
		inR.Close()
		outR.Close()
		srv.Close()
		st.Close()
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) call(tool string, a map[string]any) *mcp.CallToolResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = a
	res, err := e.c.CallTool(ctx, req)
	if err != nil {
		e.t.Fatalf("%s: %v", tool, err)
	}
	return res
}

func textOf(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func metaOf(t *testing.T, r *mcp.CallToolResult) server.Metadata {
	t.Helper()
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok && strings.HasPrefix(tc.Text, server.MetadataPrefix) {
			var m server.Metadata
			if err := json.Unmarshal([]byte(strings.TrimPrefix(tc.Text, server.MetadataPrefix)), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no metadata block in %q", textOf(r))
	return server.Metadata{}
}

func echoOf(t *testing.T, r *mcp.CallToolResult) fakeai.Echo {
	t.Helper()
	if r.IsError {
		t.Fatalf("tool error: %s", textOf(r))
	}
	e, err := fakeai.ParseEcho(textOf(r))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func chatArgs(session string, ctxPaths ...string) map[string]any {
	if ctxPaths == nil {
		ctxPaths = []string{}
	}
	return map[string]any{"instructions": "Review this.", "output_format": "bullets", "context": ctxPaths, "session_id": session}
}

func TestTools_ResponsesSessionContinuesWithStableInlineList(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	dbPath := filepath.Join(t.TempDir(), "sb.db")
	e := startEnv(t, project, dbPath, base, "test-key")

	tools, err := e.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	for _, want := range []string{"chat_with_o3", "chat_with_o3_pro", "chat_with_gpt4_1", "research_with_o3_deep_research",
		"research_with_o4_mini_deep_research", "chat_with_gemini25_pro", "chat_with_gemini25_flash", "chat_with_grok4",
		"chat_with_grok3_reasoning", "list_models", "count_project_tokens", "list_sessions", "describe_session"} {
		if !strings.Contains(","+strings.Join(names, ",")+",", ","+want+",") {
			t.Errorf("tool %s missing from %v", want, names)
		}
	}

	r1 := e.call("chat_with_o3", chatArgs("s1", project))
	echo1 := echoOf(t, r1)
	meta1 := metaOf(t, r1)
	if got, want := sorted(echo1.InlinedFiles), []string{".gitignore", "a.go", "b.md", "sub/c.txt"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("first call inlined %v, want %v", got, want)
	}
	if echo1.PreviousResponseID != "" {
		t.Errorf("first call sent previous_response_id %q", echo1.PreviousResponseID)
	}
	skipped := ""
	for _, s := range meta1.Skipped {
		skipped += s.Path + "=" + s.Reason + ";"
	}
	if !strings.Contains(skipped, "ignored.txt") || !strings.Contains(skipped, "logo.png") {
		t.Errorf("skipped files not reported: %s", skipped)
	}

	// Same session: continues, and unchanged files are not resent.
	r2 := e.call("chat_with_o3", chatArgs("s1", project))
	echo2, meta2 := echoOf(t, r2), metaOf(t, r2)
	if echo2.PreviousResponseID != meta1.ResponseID || meta1.ResponseID == "" {
		t.Errorf("second call previous_response_id = %q, want %q", echo2.PreviousResponseID, meta1.ResponseID)
	}
	if len(echo2.InlinedFiles) != 0 || len(meta2.Unchanged) != 4 {
		t.Errorf("second call resent %v (unchanged %v)", echo2.InlinedFiles, meta2.Unchanged)
	}

	// A changed file is resent; the others are not.
	if err := os.WriteFile(filepath.Join(project, "b.md"), []byte("# B\n\nSome longer notes now.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	echo3 := echoOf(t, e.call("chat_with_o3", chatArgs("s1", project)))
	if strings.Join(echo3.InlinedFiles, ",") != "b.md" {
		t.Errorf("after changing b.md, inlined %v; want [b.md]", echo3.InlinedFiles)
	}

	// Another tool with the same session id is a different session.
	echoG := echoOf(t, e.call("chat_with_gpt4_1", chatArgs("s1", project)))
	if echoG.PreviousResponseID != "" || len(echoG.InlinedFiles) != 4 {
		t.Errorf("gpt-4.1 session s1 collided with o3's: %+v", echoG)
	}

	// Restart: the session survives.
	e.stop()
	e2 := startEnv(t, project, dbPath, base, "test-key")
	echo4 := echoOf(t, e2.call("chat_with_o3", chatArgs("s1", project)))
	if echo4.PreviousResponseID == "" || len(echo4.InlinedFiles) != 0 {
		t.Errorf("after restart: previous %q, inlined %v", echo4.PreviousResponseID, echo4.InlinedFiles)
	}
	desc := e2.call("describe_session", map[string]any{"session_id": "s1", "tool": "chat_with_o3"})
	if desc.IsError || !strings.Contains(textOf(desc), "a.go") {
		t.Errorf("describe_session: %s", textOf(desc))
	}
	list := e2.call("list_sessions", map[string]any{})
	if !strings.Contains(textOf(list), "chat_with_gpt4_1") {
		t.Errorf("list_sessions: %s", textOf(list))
	}
}

func TestTools_ChatModelKeepsHistory(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")
	a := chatArgs("g", filepath.Join(project, "a.go"))
	a["temperature"] = "0.2" // coerced from a string
	echo1 := echoOf(t, e.call("chat_with_gemini25_flash", a))
	if echo1.API != "chat" || strings.Join(echo1.InlinedFiles, ",") != "a.go" {
		t.Errorf("first gemini call: %+v", echo1)
	}
	echo2 := echoOf(t, e.call("chat_with_gemini25_flash", a))
	if echo2.Messages != 4 {
		t.Errorf("second call sent %d messages, want 4 (system, user, assistant, user)", echo2.Messages)
	}
}

func TestTools_BadInputIsAToolErrorAndServerKeepsServing(t *testing.T) {
	project := newProject(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(project, "escape")); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(project, "big.txt")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")

	with := func(k string, v any, paths ...string) map[string]any {
		a := chatArgs("bad", paths...)
		if v == nil {
			delete(a, k)
		} else {
			a[k] = v
		}
		return a
	}
	cases := []struct {
		name string
		args map[string]any
		want string
	}{
		{"missing instructions", with("instructions", nil), `"instructions"`},
		{"nonexistent path", with("x", 1, filepath.Join(project, "nope.go")), "not found"},
		{"outside the roots", with("x", 1, filepath.Join(outside, "secret.txt")), "outside"},
		{"symlink escaping the root", with("x", 1, filepath.Join(project, "escape", "secret.txt")), "outside"},
		{"binary file", with("x", 1, filepath.Join(project, "logo.png")), "binary"},
		{"50 MB file", with("x", 1, big), "too large"},
		{"invalid schema", with("structured_output_schema", `{"type": 12}`), "structured_output_schema"},
		{"bad temperature", map[string]any{"instructions": "x", "output_format": "y", "context": []string{}, "session_id": "s", "temperature": "hot"}, "temperature"},
		// NaN passed the range check (every comparison with NaN is false)
		// and failed later inside the provider call.
		{"NaN temperature", map[string]any{"instructions": "x", "output_format": "y", "context": []string{}, "session_id": "s", "temperature": "NaN"}, "finite"},
		{"Inf temperature", map[string]any{"instructions": "x", "output_format": "y", "context": []string{}, "session_id": "s", "temperature": "+Inf"}, "finite"},
		// A 100 KB session id was accepted and logged in full on every line.
		{"100 KB session id", with("session_id", strings.Repeat("s", 100<<10)), "at most 256"},
		{"session id with a newline", with("session_id", "a\nb"), "control characters"},
		{"object for a string", with("instructions", map[string]any{"a": 1}), "got an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tool := "chat_with_o3"
			if strings.HasSuffix(tc.name, "temperature") {
				tool = "chat_with_gpt4_1"
			}
			r := e.call(tool, tc.args)
			if !r.IsError || !strings.Contains(textOf(r), tc.want) {
				t.Errorf("got error=%v %q; want a tool error mentioning %q", r.IsError, textOf(r), tc.want)
			}
			if err := e.c.Ping(context.Background()); err != nil {
				t.Fatalf("ping after bad input: %v", err)
			}
		})
	}
	t.Run("unknown tool", func(t *testing.T) {
		req := mcp.CallToolRequest{}
		req.Params.Name = "chat_with_nobody"
		res, err := e.c.CallTool(context.Background(), req)
		if err == nil && (res == nil || !res.IsError) {
			t.Errorf("unknown tool accepted: %+v", res)
		}
		if err := e.c.Ping(context.Background()); err != nil {
			t.Fatalf("ping after unknown tool: %v", err)
		}
	})
}

func TestTools_MissingKeyIsAClearError(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "")
	r := e.call("chat_with_grok4", chatArgs("k"))
	if !r.IsError || !strings.Contains(textOf(r), "XAI_API_KEY") {
		t.Errorf("got %q; want an error naming XAI_API_KEY", textOf(r))
	}
	lm := e.call("list_models", map[string]any{})
	if lm.IsError || !strings.Contains(textOf(lm), `"key_configured": false`) {
		t.Errorf("list_models: %s", textOf(lm))
	}
}

func TestTools_CountProjectTokens(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")
	r := e.call("count_project_tokens", map[string]any{"items": []string{project}, "top_n": "2"})
	if r.IsError {
		t.Fatal(textOf(r))
	}
	var rep struct {
		TotalTokens  int `json:"total_tokens"`
		FileCount    int `json:"file_count"`
		LargestFiles []struct {
			Rel string `json:"rel"`
		} `json:"largest_files"`
	}
	if err := json.Unmarshal([]byte(textOf(r)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.FileCount != 4 || rep.TotalTokens == 0 || len(rep.LargestFiles) != 2 {
		t.Errorf("count_project_tokens = %+v", rep)
	}
}

func TestTools_DeepResearchRuns(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")
	echo := echoOf(t, e.call("research_with_o4_mini_deep_research", chatArgs("d1")))
	if echo.Model != "o4-mini-deep-research" || echo.API != "responses" {
		t.Errorf("deep research echo %+v", echo)
	}
}

// The reply's metadata carries the call's total time (QA: it was set after
// the result had been encoded, so every successful reply said 0), and the
// total covers the parts.
func TestTools_TimingsTotalInReply(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")
	for _, tool := range []string{"chat_with_o3", "chat_with_grok4"} {
		m := metaOf(t, e.call(tool, chatArgs("timing-"+tool, project)))
		tm := m.Timings
		if tm.TotalMS <= 0 || tm.TotalMS < tm.ModelMS || tm.TotalMS < tm.PackMS {
			t.Errorf("%s: timings %+v: total_ms must be > 0 and cover pack and model", tool, tm)
		}
	}
}

// QA nits: count_project_tokens uses lower snake_case keys everywhere and
// [] for empty lists; search_project_history refuses an unknown store type.
func TestTools_CountKeysAndStoreTypes(t *testing.T) {
	project := newProject(t)
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) { o.Memory = &stubMemory{} })
	r := e.call("count_project_tokens", map[string]any{"items": []string{project}})
	txt := textOf(r)
	if r.IsError || strings.Contains(txt, `"Path"`) || strings.Contains(txt, `"Reason"`) || !strings.Contains(txt, `"reason"`) {
		t.Errorf("count_project_tokens skipped keys: %s", txt)
	}
	r = e.call("count_project_tokens", map[string]any{"items": []string{filepath.Join(project, "a.go")}})
	txt = textOf(r)
	if r.IsError || !strings.Contains(txt, `"largest_dirs": []`) || !strings.Contains(txt, `"skipped": []`) || strings.Contains(txt, "null") {
		t.Errorf("count_project_tokens empty lists: %s", txt)
	}
	r = e.call("search_project_history", map[string]any{"query": "x", "store_types": []string{"commitz"}})
	if !r.IsError || !strings.Contains(textOf(r), `"commitz"`) || !strings.Contains(textOf(r), `"conversation" or "commit"`) {
		t.Errorf("unknown store type: error %v %s", r.IsError, textOf(r))
	}
	if r := e.call("search_project_history", map[string]any{"query": "x", "store_types": []string{"commit"}}); r.IsError {
		t.Errorf("singular store type refused: %s", textOf(r))
	}
}
