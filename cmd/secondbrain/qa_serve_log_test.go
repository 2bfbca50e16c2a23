package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A refused non-loopback --http never claims to be serving first; a server
// without search_project_history says once, at start, why.
func TestQA_ServeStartupLogs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	none := filepath.Join(t.TempDir(), "none.yaml")
	if err := os.WriteFile(none, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--http", "0.0.0.0:0", "--db", db)
	cmd.Env = append(os.Environ(), "SB_RUN_MAIN=1", "SECONDBRAIN_HTTP_TOKEN=", "SECONDBRAIN_CONFIG="+none)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "token") || strings.Contains(string(out), "serving MCP over streamable HTTP") {
		t.Errorf("non-loopback bind without token: err %v, output:\n%s", err, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"vector store off", []string{"--provider", "fake", "--vector-store=false"}, nil, "--vector-store off"},
		{"local index only", []string{"--provider", "fake", "--vector-store", "local"}, nil, "--vector-store local"},
		{"no OpenAI key", nil, []string{"OPENAI_API_KEY="}, "needs an OpenAI key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := filepath.Join(t.TempDir(), "empty.yaml")
			if err := os.WriteFile(empty, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], append([]string{"serve", "--db", filepath.Join(t.TempDir(), "x.db")}, tc.args...)...)
			cmd.Env = append(append(os.Environ(), "SB_RUN_MAIN=1", "SECONDBRAIN_CONFIG="+empty, "SECONDBRAIN_PROVIDER=", "SECONDBRAIN_VECTOR_STORE="), tc.env...)
			cmd.Stdin = strings.NewReader("") // EOF at once: the server starts and stops
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("serve: %v\n%s", err, out)
			}
			if n := strings.Count(string(out), "search_project_history not registered"); n != 1 || !strings.Contains(string(out), tc.want) {
				t.Errorf("want one line naming %q, got %d:\n%s", tc.want, n, out)
			}
		})
	}
}
