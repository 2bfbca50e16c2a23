package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
)

// The test binary doubles as the secondbrain binary: with SB_RUN_MAIN=1 it
// runs main() with its arguments, so e2e tests start a real subprocess.
func TestMain(m *testing.M) {
	if os.Getenv("SB_RUN_MAIN") == "1" {
		os.Args = append([]string{"secondbrain"}, os.Args[1:]...)
		main()
		return
	}
	// The servers and fakes these tests start are this race-instrumented
	// binary, and the race runtime sleeps 1 s at exit by default
	// (atexit_sleep_ms): that second is not theirs to spend out of the
	// shutdown budgets the tests and the runner give them. Every
	// subprocess inherits it from here.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

type e2e struct {
	t       *testing.T
	project string
	db      string
	fakeURL string // "" means --provider fake
	config  string
	extra   []string  // more serve flags
	env     []string  // more environment, after the defaults
	origin  time.Time // --time-origin of every server the test starts
}

func newE2E(t *testing.T, outOfProcessFake bool) *e2e {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"main.go":     "package main\n\nfunc main() {}\n",
		"README.md":   "# demo\n",
		"pkg/lib.go":  "package pkg\n\nconst X = 1\n",
		"vendor.txt":  "ignored\n",
		".gitignore":  "vendor.txt\n",
		"pkg/data.md": "notes\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := &e2e{t: t, project: dir, db: filepath.Join(t.TempDir(), "sb.db"), origin: time.Now()}
	// An explicit empty config file, so a secondbrain.yaml lying around is never read.
	e.config = filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(e.config, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if outOfProcessFake {
		fake := fakeai.New()
		base, stop, err := fake.Start(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(); fake.Close() })
		e.fakeURL = base + "/v1"
	}
	return e
}

func (e *e2e) args(extra ...string) []string {
	// One origin for every server of the test: a restarted server then
	// reads the times its predecessor stored as the past they are.
	a := []string{"serve", "--roots", e.project, "--db", e.db, "--time-scale", "100",
		"--time-origin", e.origin.UTC().Format(time.RFC3339Nano), "--log-level", "debug"}
	if e.fakeURL != "" {
		a = append(a, "--base-url", e.fakeURL)
	} else {
		a = append(a, "--provider", "fake")
	}
	a = append(a, e.extra...)
	return append(a, extra...)
}

func (e *e2e) environ() []string {
	return append([]string{"SB_RUN_MAIN=1", "OPENAI_API_KEY=test-openai", "GEMINI_API_KEY=test-gemini", "XAI_API_KEY=test-xai",
		"ANTHROPIC_API_KEY=", "SECONDBRAIN_CONFIG=" + e.config, "SECONDBRAIN_BASE_URL=", "SECONDBRAIN_PROVIDER="}, e.env...)
}

// lockedBuffer collects the subprocess's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func initClient(t *testing.T, c *client.Client) {
	t.Helper()
	// Start with a context that outlives this function: the stdio transport
	// starts the subprocess with exec.CommandContext, so ending it kills the server.
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "0"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
}

// stdioClient starts `secondbrain serve` as a subprocess.
func (e *e2e) stdioClient() (*client.Client, *lockedBuffer) {
	e.t.Helper()
	stderr := &lockedBuffer{}
	tr := transport.NewStdioWithOptions(os.Args[0], e.environ(), e.args(), transport.WithCommandStderrWriter(stderr))
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	initClient(e.t, c)
	return c, stderr
}

// httpServer starts `secondbrain serve --http` as a subprocess and returns its URL.
func (e *e2e) httpServer(extra ...string) (url string, stop func()) {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], e.args(append([]string{"--http", addr}, extra...)...)...)
	cmd.Env = append(os.Environ(), e.environ()...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	for !strings.Contains(stderr.String(), "HTTP listener bound") {
		select {
		case <-exited:
			e.t.Fatalf("HTTP server exited:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			e.t.Fatalf("HTTP server did not start:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "http://" + addr + "/mcp", func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
			if waitErr != nil {
				e.t.Errorf("HTTP server exited with %v:\n%s", waitErr, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			e.t.Errorf("HTTP server did not stop on SIGINT:\n%s", stderr.String())
		}
	}
}

func call(t *testing.T, c *client.Client, tool string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return res
}

func resultText(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func echo(t *testing.T, r *mcp.CallToolResult) fakeai.Echo {
	t.Helper()
	if r.IsError {
		t.Fatalf("tool error: %s", resultText(r))
	}
	e, err := fakeai.ParseEcho(resultText(r))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func meta(t *testing.T, r *mcp.CallToolResult) server.Metadata {
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
	t.Fatalf("no metadata in %s", resultText(r))
	return server.Metadata{}
}

// chat builds a model tool's arguments. Memory search is disabled: the fake
// calls every offered function, which would add a round to each call.
func chat(session string, paths ...string) map[string]any {
	return map[string]any{"instructions": "Review the project.", "output_format": "bullets", "context": paths, "session_id": session,
		"disable_memory_search": true}
}

var wantInlined = []string{".gitignore", "README.md", "main.go", "pkg/data.md", "pkg/lib.go"}

func sortedCopy(s []string) string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return strings.Join(c, ",")
}

// checkConversation runs the sequence on c: o3 with a directory,
// then the same session again.
func checkConversation(t *testing.T, c *client.Client, e *e2e, session string) (responseID string) {
	t.Helper()
	r1 := call(t, c, "chat_with_o3", chat(session, e.project))
	e1, m1 := echo(t, r1), meta(t, r1)
	if got := sortedCopy(e1.InlinedFiles); got != strings.Join(wantInlined, ",") {
		t.Errorf("first call inlined %s, want %v", got, wantInlined)
	}
	if !strings.Contains(fmt.Sprint(m1.Skipped), "vendor.txt") {
		t.Errorf("ignored file not reported as skipped: %+v", m1.Skipped)
	}
	r2 := call(t, c, "chat_with_o3", chat(session, e.project))
	e2, m2 := echo(t, r2), meta(t, r2)
	if e2.PreviousResponseID == "" || e2.PreviousResponseID != m1.ResponseID {
		t.Errorf("second call sent previous_response_id %q, want %q", e2.PreviousResponseID, m1.ResponseID)
	}
	if len(e2.InlinedFiles) != 0 || len(m2.Unchanged) != len(wantInlined) {
		t.Errorf("second call resent %v; unchanged %v", e2.InlinedFiles, m2.Unchanged)
	}
	return m2.ResponseID
}

func TestE2E_StdioSubprocess(t *testing.T) {
	e := newE2E(t, true)
	c, stderr := e.stdioClient()
	tools, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) < 13 {
		t.Errorf("%d tools listed, want the 9 model tools and 4 utilities", len(tools.Tools))
	}
	last := checkConversation(t, c, e, "e2e-1")

	// A chat-completions model keeps its history.
	g1 := echo(t, call(t, c, "chat_with_grok4", chat("e2e-g", filepath.Join(e.project, "main.go"))))
	g2 := echo(t, call(t, c, "chat_with_grok4", chat("e2e-g", filepath.Join(e.project, "main.go"))))
	// main.go was sent once, in the first user message now in the history: not again.
	if g1.API != "chat" || g2.Messages != 4 || strings.Join(g2.InlinedFiles, ",") != "main.go" {
		t.Errorf("grok: first %+v; second messages=%d inlined=%v", g1, g2.Messages, g2.InlinedFiles)
	}

	// Project memory is wired: the tool exists and answers (the writer stores
	// exchanges in the background, so hits may not be there yet).
	if r := call(t, c, "search_project_history", map[string]any{"query": "review"}); r.IsError {
		t.Errorf("search_project_history: %s", resultText(r))
	}

	// Malformed input does not kill the server (the client's pipe is ours
	// only through the transport, so check via a bad tool call instead).
	bad := call(t, c, "chat_with_o3", chat("e2e-bad", filepath.Join(e.project, "missing.go")))
	if !bad.IsError {
		t.Errorf("missing path accepted: %s", resultText(bad))
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	// Restart: the session continues from the stored response.
	c2, _ := e.stdioClient()
	defer c2.Close()
	e3 := echo(t, call(t, c2, "chat_with_o3", chat("e2e-1", e.project)))
	if e3.PreviousResponseID != last || len(e3.InlinedFiles) != 0 {
		t.Errorf("after restart: previous_response_id %q (want %q), inlined %v", e3.PreviousResponseID, last, e3.InlinedFiles)
	}
	if strings.Contains(stderr.String(), "test-openai") {
		t.Error("an API key reached the logs")
	}
}

func TestE2E_ProviderFakeInProcess(t *testing.T) {
	e := newE2E(t, false)
	c, _ := e.stdioClient()
	defer c.Close()
	checkConversation(t, c, e, "fake-1")
}

func TestE2E_StreamableHTTP(t *testing.T) {
	e := newE2E(t, true)
	url, stop := e.httpServer()
	defer stop()
	c, err := client.NewStreamableHttpClient(url)
	if err != nil {
		t.Fatal(err)
	}
	initClient(t, c)
	checkConversation(t, c, e, "http-1")
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("ping over HTTP: %v", err)
	}
	c.Close()

	// DNS rebinding: a foreign Origin or Host is refused.
	for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Host": "evil.example"}} {
		req, _ := newPost(url, h)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("headers %v: status %d, want 403", h, resp.StatusCode)
		}
	}
}

func TestE2E_HTTPToken(t *testing.T) {
	e := newE2E(t, true)
	url, stop := e.httpServer("--http-token", "s3cret-token-value")
	defer stop()
	req, _ := newPost(url, nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no token: status %d, want 401", resp.StatusCode)
	}
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer s3cret-token-value"}))
	if err != nil {
		t.Fatal(err)
	}
	initClient(t, c)
	if r := call(t, c, "list_models", map[string]any{}); r.IsError {
		t.Error(resultText(r))
	}
	c.Close()
}

func TestServe_NonLoopbackNeedsToken(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--http", "0.0.0.0:0", "--db", filepath.Join(t.TempDir(), "x.db"))
	cmd.Env = append(os.Environ(), "SB_RUN_MAIN=1", "SECONDBRAIN_HTTP_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "token") {
		t.Errorf("non-loopback bind without token: err %v, output %s", err, out)
	}
}

func TestE2E_DebugListener(t *testing.T) {
	e := newE2E(t, true)
	addrFile := filepath.Join(t.TempDir(), "debug.addr")
	e.extra = []string{"--debug-addr", "127.0.0.1:0", "--debug-addr-file", addrFile}
	c, _ := e.stdioClient()
	defer c.Close()
	if r := call(t, c, "chat_with_gpt4_1", chat("dbg", filepath.Join(e.project, "main.go"))); r.IsError {
		t.Fatal(resultText(r))
	}
	b, err := os.ReadFile(addrFile)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.TrimSpace(string(b))
	get := func(path string) string {
		resp, err := httpClient.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		if _, err := io.Copy(&sb, resp.Body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, sb.String())
		}
		return sb.String()
	}
	var calls server.CallsSnapshot
	if err := json.Unmarshal([]byte(get("/debug/calls")), &calls); err != nil {
		t.Fatal(err)
	}
	if len(calls.Recent) != 1 || calls.Recent[0].Tool != "chat_with_gpt4_1" || calls.Recent[0].Outcome != server.OutcomeOK {
		t.Errorf("/debug/calls: %+v", calls)
	}
	if m := get("/metrics"); !strings.Contains(m, `secondbrain_tool_call_duration_seconds_count{outcome="ok",tool="chat_with_gpt4_1"} 1`) {
		t.Errorf("/metrics lacks the tool-call histogram")
	}
	if g := get("/debug/pprof/goroutine?debug=1"); !strings.Contains(g, "goroutine profile") {
		t.Errorf("pprof goroutine: %.200s", g)
	}
}

// Overflow through the real vector-store manager against the fake: files
// past o3's budget are uploaded and searchable with file_search, and the
// second call uploads nothing new.
func TestE2E_OverflowToVectorStore(t *testing.T) {
	e := newE2E(t, true)
	line := strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing elit ", 20) + "\n"
	for i := 0; i < 10; i++ {
		body := strings.Repeat(fmt.Sprintf("%d %s", i, line), 100) // ~115 KB ≈ 29k tokens each: 10 files overflow a 170k budget
		if err := os.WriteFile(filepath.Join(e.project, fmt.Sprintf("big%02d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := e.stdioClient()
	defer c.Close()
	r1 := call(t, c, "chat_with_o3", chat("vs-1", e.project))
	e1, m1 := echo(t, r1), meta(t, r1)
	if len(m1.Overflow) == 0 || !m1.OverflowAttached || len(e1.VectorStoreIDs) != 1 || e1.StoreFiles != len(m1.Overflow)-len(m1.FailedUploads) {
		t.Fatalf("overflow %d attached %v uploaded %d failed %v; echo stores %v files %d", len(m1.Overflow), m1.OverflowAttached,
			m1.Uploaded, m1.FailedUploads, e1.VectorStoreIDs, e1.StoreFiles)
	}
	r2 := call(t, c, "chat_with_o3", chat("vs-1", e.project))
	m2 := meta(t, r2)
	if m2.Uploaded != 0 || strings.Join(m2.VectorStoreIDs, ",") != strings.Join(m1.VectorStoreIDs, ",") {
		t.Errorf("second call uploaded %d (reused %d), stores %v vs %v", m2.Uploaded, m2.Reused, m2.VectorStoreIDs, m1.VectorStoreIDs)
	}
	d := call(t, c, "describe_session", map[string]any{"session_id": "vs-1", "tool": "chat_with_o3"})
	if !strings.Contains(resultText(d), m1.VectorStoreIDs[0]) || !strings.Contains(resultText(d), `"vector_store"`) {
		t.Errorf("describe_session: %s", resultText(d))
	}
}

// stdioPipes connects the test to cmd's stdin and stdout (before Start).
func stdioPipes(tb testing.TB, cmd *exec.Cmd) (io.WriteCloser, io.ReadCloser) {
	tb.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	return in, out
}
