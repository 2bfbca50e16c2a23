package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the root command in-process and returns its stdout and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// qaEnv isolates the config sources: an empty config file, a known key.
func qaEnv(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"OPENAI_BASE_URL", "GEMINI_API_KEY", "XAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "SECONDBRAIN_ROOTS", "SECONDBRAIN_DB",
		"SECONDBRAIN_LOG_LEVEL", "LOG_LEVEL", "SECONDBRAIN_LOG_SHIPPING", "SECONDBRAIN_MAX_FILE_BYTES", "SECONDBRAIN_MAX_TOTAL_BYTES",
		"SECONDBRAIN_PROVIDER", "SECONDBRAIN_BASE_URL", "SECONDBRAIN_CANARY", "SECONDBRAIN_HTTP_TOKEN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("SECONDBRAIN_CONFIG", empty)
	t.Setenv("OPENAI_API_KEY", "sk-qa-secret-value-abcdefgh")
}

// `config show` prints the effective configuration: defaults resolved, only
// the variables that are set (names only), secrets masked.
func TestQA_ConfigShowIsEffective(t *testing.T) {
	qaEnv(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "config", "show")
	if err != nil {
		t.Fatalf("config show: %v\n%s", err, out)
	}
	for _, want := range []string{
		"roots:\n- " + wd + "\n",
		"max_file_bytes: 2097152\n",
		"max_total_bytes: 52428800\n",
		"vector_store_ttl: 6h0m0s\n",
		"vector_store_evict_idle: 10m0s\n",
		"session_ttl: 6h0m0s\n",
		"# environment variables set: SECONDBRAIN_CONFIG OPENAI_API_KEY\n",
		`api_key: "****efgh"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "\ndb: /") {
		t.Errorf("db path is not resolved to an absolute path:\n%s", out)
	}
	if strings.Contains(out, "sk-qa-secret") || strings.Contains(out, "XAI_API_KEY") || strings.Contains(out, "GEMINI_API_KEY") {
		t.Errorf("config show leaks a secret or lists unset variables:\n%s", out)
	}
	out, err = runCLI(t, "config", "show", "--max-file-bytes", "1000", "--base-url", "http://127.0.0.1:9/v1")
	if err != nil || !strings.Contains(out, "max_file_bytes: 1000\n") || strings.Count(out, "base_url: http://127.0.0.1:9/v1") != 5 {
		t.Errorf("flags not reflected (err %v):\n%s", err, out)
	}
}

// `config show` refuses what serve refuses, with the same message and exit 2;
// enumerations list every valid value; negative sizes are refused.
func TestQA_ConfigShowValidatesLikeServe(t *testing.T) {
	qaEnv(t)
	cases := []struct {
		flag  []string
		wants []string
	}{
		{[]string{"--log-level", "loud"}, []string{"log level", `"loud"`}},
		{[]string{"--log-shipping", "bogus"}, []string{`"bogus"`, "async", "sync", "sync-log", "sync-stderr"}},
		{[]string{"--max-file-bytes", "-5"}, []string{"max_file_bytes must be >= 0", "-5"}},
		{[]string{"--max-total-bytes", "-1"}, []string{"max_total_bytes must be >= 0"}},
		{[]string{"--canary", "nope"}, []string{`unknown canary "nope"`}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.flag, " "), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "x.db")
			_, showErr := runCLI(t, append([]string{"config", "show"}, tc.flag...)...)
			_, serveErr := runCLI(t, append([]string{"serve", "--db", db}, tc.flag...)...)
			for name, err := range map[string]error{"config show": showErr, "serve": serveErr} {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage {
					t.Fatalf("%s: err %v, want exit %d", name, err, exitUsage)
				}
				for _, w := range tc.wants {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q lacks %q", name, err, w)
					}
				}
			}
			if showErr.Error() != serveErr.Error() {
				t.Errorf("different errors:\n config show: %v\n serve:       %v", showErr, serveErr)
			}
			if _, err := os.Stat(db); err == nil {
				t.Error("serve opened the database before refusing its flags")
			}
		})
	}
}
