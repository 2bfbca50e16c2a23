package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/config"
)

// The built-in registry holds the incident-era nine, unchanged, and the
// current lineup; configured models replace built-ins by tool name and
// come after them otherwise.
func TestBuildModels_defaultsAndOverrides(t *testing.T) {
	c := config.Default()
	c.Providers = map[string]config.Provider{"ollama": {BaseURL: "http://127.0.0.1:11434/v1"}}
	c.Models = []config.Model{
		{Tool: "chat_with_local", Model: "llama3.3", Provider: "ollama", API: "chat", Window: 128_000, Parameters: []string{"temperature"}},
		{Tool: "chat_with_grok4", Model: "grok-4-0709", Provider: "xai", API: "chat", Window: 256_000},
	}
	ms, err := buildModels(c)
	if err != nil {
		t.Fatal(err)
	}
	lineups := map[string]int{}
	byTool := map[string]server.Model{}
	for _, m := range ms {
		lineups[m.Lineup]++
		byTool[m.Tool] = m
	}
	if lineups[server.LineupIncident] != 8 || lineups[server.LineupCurrent] < 6 || lineups[server.LineupConfigured] != 2 {
		t.Errorf("lineups %v; want 8 incident-era left (one overridden), the current ones, 2 configured", lineups)
	}
	if g := byTool["chat_with_grok4"]; g.Model != "grok-4-0709" || g.Lineup != server.LineupConfigured {
		t.Errorf("override not applied: %+v", g)
	}
	if l := byTool["chat_with_local"]; !l.Temperature || l.ReasoningEffort || l.TimeoutSecs != 600 || ms[len(ms)-1].Tool != "chat_with_local" {
		t.Errorf("configured model: %+v (last is %s)", l, ms[len(ms)-1].Tool)
	}
	for _, tool := range []string{"chat_with_o3", "chat_with_o3_pro", "chat_with_gpt4_1", "research_with_o3_deep_research",
		"research_with_o4_mini_deep_research", "chat_with_gemini25_pro", "chat_with_gemini25_flash", "chat_with_grok3_reasoning"} {
		if byTool[tool].Lineup != server.LineupIncident {
			t.Errorf("incident-era tool %s missing or changed: %+v", tool, byTool[tool])
		}
	}
}

// A registry that cannot work stops `config show` and `serve` with exit 2,
// naming the file, the key and the value.
func TestQA_BadRegistryConfig(t *testing.T) {
	qaEnv(t)
	cases := []struct {
		name  string
		yaml  string
		wants []string
	}{
		{"duplicate tool", "models:\n  - {tool: chat_with_a, model: m, provider: openai, api: chat, window: 10}\n  - {tool: chat_with_a, model: n, provider: openai, api: chat, window: 10}\n",
			[]string{"models[1] (chat_with_a)", `tool "chat_with_a" is declared again`}},
		{"unknown api", "models:\n  - {tool: chat_with_a, model: m, provider: openai, api: completions, window: 10}\n",
			[]string{"models[0] (chat_with_a)", "api:", `"completions"`, "responses, chat"}},
		{"no window", "models:\n  - {tool: chat_with_a, model: m, provider: openai, api: chat}\n",
			[]string{"window: must be > 0", "got 0"}},
		{"unknown parameter", "models:\n  - {tool: chat_with_a, model: m, provider: openai, api: chat, window: 10, parameters: [top_k]}\n",
			[]string{"parameters:", `"top_k"`, "temperature, reasoning_effort, web_search"}},
		{"unknown provider", "models:\n  - {tool: chat_with_a, model: m, provider: nowhere, api: chat, window: 10}\n",
			[]string{"provider:", `"nowhere"`}},
		{"utility name", "models:\n  - {tool: list_models, model: m, provider: openai, api: chat, window: 10}\n",
			[]string{`"list_models" is a utility tool`}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "secondbrain.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SECONDBRAIN_CONFIG", file)
			db := filepath.Join(t.TempDir(), "x.db")
			_, showErr := runCLI(t, "config", "show")
			_, serveErr := runCLI(t, "serve", "--db", db)
			for name, err := range map[string]error{"config show": showErr, "serve": serveErr} {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage {
					t.Fatalf("%s: err %v, want exit %d", name, err, exitUsage)
				}
				for _, w := range append([]string{file}, tc.wants...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", name, err, w)
					}
				}
			}
			if _, err := os.Stat(db); err == nil {
				t.Error("serve opened the database before refusing the registry")
			}
		})
	}
}

// A model added only in secondbrain.yaml, on a provider added there too
// (a local OpenAI-compatible server needing no key: the fake API), is a
// tool that answers; list_models shows every lineup and says why a model
// cannot be used.
func TestE2E_ConfiguredModelAnswers(t *testing.T) {
	e := newE2E(t, true)
	yaml := "providers:\n  local: {base_url: " + e.fakeURL + "}\n" +
		"models:\n  - {tool: chat_with_local, model: llama3.3, provider: local, api: chat, window: 128000, parameters: [temperature]}\n"
	if err := os.WriteFile(e.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.startServer()
	var list struct {
		Models []struct {
			Tool        string `json:"tool"`
			Lineup      string `json:"lineup"`
			Available   bool   `json:"available"`
			Unavailable string `json:"unavailable"`
		} `json:"models"`
	}
	if err := json.Unmarshal([]byte(resultText(call(t, p.c, "list_models", nil))), &list); err != nil {
		t.Fatal(err)
	}
	lineups := map[string]int{}
	for _, m := range list.Models {
		lineups[m.Lineup]++
		switch {
		case m.Tool == "chat_with_local" && !m.Available:
			t.Errorf("chat_with_local unavailable: %s", m.Unavailable)
		case strings.HasPrefix(m.Tool, "chat_with_claude") && (m.Available || !strings.Contains(m.Unavailable, "ANTHROPIC_API_KEY")):
			t.Errorf("%s without a key: available %v, reason %q", m.Tool, m.Available, m.Unavailable)
		}
	}
	if lineups[server.LineupIncident] != 9 || lineups[server.LineupCurrent] == 0 || lineups[server.LineupConfigured] != 1 {
		t.Errorf("list_models lineups %v", lineups)
	}
	args := chat("local-1", filepath.Join(e.project, "main.go"))
	args["temperature"] = 0.2
	if ev := echo(t, call(t, p.c, "chat_with_local", args)); ev.Model != "llama3.3" || ev.API != "chat" {
		t.Errorf("chat_with_local reached model %q over %q; want llama3.3 over chat", ev.Model, ev.API)
	}
}

// README's tool table is the built-in registry: every model tool with its
// model id, window, timeout and lineup, and nothing else.
func TestREADME_ToolTableMatchesRegistry(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "| tool | model | window | timeout | API | lineup |")
	if !ok {
		t.Fatal("README has no tool table")
	}
	rows := map[string]string{}
	for _, line := range strings.Split(rest, "\n")[2:] {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cells := strings.Split(line, "|")
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = line
	}
	for _, m := range server.DefaultModels() {
		row, ok := rows[m.Tool]
		if !ok {
			t.Errorf("README's tool table lacks %s", m.Tool)
			continue
		}
		delete(rows, m.Tool)
		cells := strings.Split(row, "|")
		got := []string{strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3]), strings.TrimSpace(cells[4]), strings.TrimSpace(cells[6])}
		want := []string{m.Model, fmt.Sprint(m.Window), fmt.Sprintf("%d s", m.TimeoutSecs), m.Lineup}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("README row for %s says %q; the registry %q", m.Tool, got, want)
		}
	}
	for tool := range rows {
		t.Errorf("README's tool table lists %s, which the registry does not have", tool)
	}
}

// Overflow goes to the local index with no OpenAI key (auto), or when
// asked (--vector-store local): the call says overflow_attached with a
// local store, and the model's search_task_files call — offered to a chat
// model, and to a Responses model in place of file_search — gets hits from
// the overflow files.
func TestE2E_LocalOverflowSearch(t *testing.T) {
	for _, tc := range []struct {
		name, tool, override string
		env, flags           []string
	}{
		{"no OpenAI key for a chat model", "chat_with_gemini3_flash_preview",
			"{tool: chat_with_gemini3_flash_preview, model: gemini-3-flash-preview, provider: gemini, api: chat, window: 40000}",
			[]string{"OPENAI_API_KEY="}, nil},
		{"asked for by a Responses model", "chat_with_gpt52",
			"{tool: chat_with_gpt52, model: gpt-5.2, provider: openai, api: responses, window: 40000, background: true, timeout: 50m}",
			nil, []string{"--vector-store", "local"}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			e := newE2E(t, true)
			e.env = tc.env
			// The same models with a 40k-token window (a configured
			// override), so ~600 KB overflows: indexing megabytes under
			// -race would make the test slow, not better.
			if err := os.WriteFile(e.config, []byte("models:\n  - "+tc.override+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			gen := writeFiles(t, e.project, "gen", 60, 10<<10, "overflow")
			p := e.startServer(tc.flags...)
			r := call(t, p.c, tc.tool, chat("local-overflow", gen))
			checkLocalOverflow(t, meta(t, r), echo(t, r))
		})
	}
}

func checkLocalOverflow(t *testing.T, m server.Metadata, ev fakeai.Echo) {
	t.Helper()
	if len(m.Overflow) == 0 || !m.OverflowAttached || len(m.VectorStoreIDs) != 1 || !strings.HasPrefix(m.VectorStoreIDs[0], "local-") {
		t.Fatalf("overflow %d attached %v stores %v note %q; want every overflow file in one local store",
			len(m.Overflow), m.OverflowAttached, m.VectorStoreIDs, m.OverflowNote)
	}
	if m.Uploaded != len(m.Overflow) || len(m.FailedUploads) != 0 {
		t.Errorf("indexed %d of %d overflow files, failed %v", m.Uploaded, len(m.Overflow), m.FailedUploads)
	}
	if len(ev.VectorStoreIDs) != 0 {
		t.Errorf("a local store reached the provider's file_search: %v", ev.VectorStoreIDs)
	}
	if !slices.Contains(ev.Tools, "search_task_files") || ev.ToolResults == 0 {
		t.Fatalf("the model was not offered or did not run search_task_files: tools %v, results %d", ev.Tools, ev.ToolResults)
	}
	overflow := map[string]bool{}
	for _, f := range m.Overflow {
		overflow[f] = true
	}
	var fromOverflow int
	for _, f := range ev.ToolResultFiles {
		if path, _, ok := strings.Cut(f, ":"); ok && overflow[path] {
			fromOverflow++
		}
	}
	if fromOverflow == 0 {
		t.Errorf("search_task_files hits %v; want hits in the overflow files", ev.ToolResultFiles)
	}
}
