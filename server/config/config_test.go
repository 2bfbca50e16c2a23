package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/config"
)

func TestLoad_FileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secondbrain.yaml")
	if err := os.WriteFile(path, []byte("db: /tmp/file.db\nsession_ttl: 1h\nopenai:\n  api_key: sk-from-file-1234567890\nlog:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if err := config.LoadFile(&c, path, true); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENAI_API_KEY": "sk-from-env-abcdefghijkl", "SECONDBRAIN_ROOTS": "/a, /b", "SECONDBRAIN_TIME_SCALE": "60"}
	if err := config.ApplyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.DB != "/tmp/file.db" || c.SessionTTL != time.Hour || c.Log.Level != "debug" {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.OpenAI.APIKey != "sk-from-env-abcdefghijkl" || strings.Join(c.Roots, "|") != "/a|/b" || c.TimeScale != 60 {
		t.Errorf("env does not override the file: %+v", c)
	}
	m := c.Masked()
	out, err := m.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "sk-from") || !strings.Contains(string(out), "****ijkl") {
		t.Errorf("masked config leaks or hides too much:\n%s", out)
	}
	if c.OpenAI.APIKey != "sk-from-env-abcdefghijkl" {
		t.Error("Masked changed the original")
	}
}

func TestLoad_UnknownKeyIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secondbrain.yaml")
	if err := os.WriteFile(path, []byte("dbb: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if err := config.LoadFile(&c, path, true); err == nil {
		t.Error("unknown key accepted")
	}
	if err := config.LoadFile(&c, filepath.Join(t.TempDir(), "none.yaml"), false); err != nil {
		t.Errorf("missing optional file: %v", err)
	}
}

func TestEndpoints_BaseURLOverridesAll(t *testing.T) {
	c := config.Default()
	c.BaseURL = "http://127.0.0.1:1/v1"
	c.Providers = map[string]config.Provider{"ollama": {BaseURL: "http://127.0.0.1:11434/v1"}}
	eps, keyEnv := c.Endpoints()
	for _, name := range []string{config.ProviderOpenAI, config.ProviderGemini, config.ProviderXAI, config.ProviderAnthropic} {
		if eps[name].BaseURL != c.BaseURL || keyEnv[name] == "" {
			t.Errorf("%s: %+v (key from %q); want the override and a key variable", name, eps[name], keyEnv[name])
		}
	}
	// A configured provider keeps its own URL: base_url is for the built-ins.
	if eps["ollama"].BaseURL != "http://127.0.0.1:11434/v1" || keyEnv["ollama"] != "" {
		t.Errorf("ollama: %+v (key from %q)", eps["ollama"], keyEnv["ollama"])
	}
}

// A configured provider's key comes from the variable it names.
func TestApplyEnv_ProviderKeys(t *testing.T) {
	c := config.Default()
	c.Providers = map[string]config.Provider{"openrouter": {BaseURL: "https://openrouter.ai/api/v1", APIKeyEnv: "OPENROUTER_API_KEY"}}
	env := map[string]string{"OPENROUTER_API_KEY": "or-secret", "ANTHROPIC_API_KEY": "an-secret"}
	if err := config.ApplyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Providers["openrouter"].APIKey != "or-secret" || c.Anthropic.APIKey != "an-secret" {
		t.Errorf("keys not read: %+v %+v", c.Providers["openrouter"], c.Anthropic)
	}
	secrets := strings.Join(c.Secrets(), ",")
	if !strings.Contains(secrets, "or-secret") || !strings.Contains(secrets, "an-secret") {
		t.Errorf("Secrets() = %q; want both keys (log redaction)", secrets)
	}
}

func TestValidate_NamesTheSettingAndValidValues(t *testing.T) {
	cases := []struct {
		name  string
		set   func(*config.Config)
		wants []string // substrings of the error; none = valid
	}{
		{"defaults", func(*config.Config) {}, nil},
		{"every shipping mode", func(c *config.Config) { c.Log.Shipping = "sync-stderr" }, nil},
		{"provider without a URL", func(c *config.Config) { c.Providers = map[string]config.Provider{"ollama": {}} }, []string{"providers.ollama.base_url", "http(s) URL"}},
		{"bogus shipping", func(c *config.Config) { c.Log.Shipping = "bogus" },
			[]string{"log shipping", `"bogus"`, "async", "sync", "sync-log", "sync-stderr"}},
		{"sync prefix is not enough", func(c *config.Config) { c.Log.Shipping = "syncish" }, []string{"log shipping", "sync-log"}},
		{"bad level", func(c *config.Config) { c.Log.Level = "loud" }, []string{"log level", `"loud"`}},
		{"bad format", func(c *config.Config) { c.Log.Format = "xml" }, []string{"log format", "text or json"}},
		{"negative max file bytes", func(c *config.Config) { c.MaxFileBytes = -5 }, []string{"max_file_bytes must be >= 0", "-5"}},
		{"negative max total bytes", func(c *config.Config) { c.MaxTotalBytes = -1 }, []string{"max_total_bytes must be >= 0"}},
		{"negative store ttl", func(c *config.Config) { c.VectorStoreTTL = -time.Second }, []string{"vector_store_ttl"}},
		{"negative evict idle", func(c *config.Config) { c.VectorStoreEvictIdle = -time.Second }, []string{"vector_store_evict_idle"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.set(&c)
			err := c.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error with %q", tc.wants)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidate_TimeOrigin(t *testing.T) {
	tests := []struct {
		origin  string
		wantErr string
	}{
		{"", ""},
		{"2026-12-04T17:00:00Z", ""},
		{"2026-12-04T17:00:00.123456789+01:00", ""},
		{"yesterday", "RFC 3339"},
		{time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "in the future"},
	}
	for _, tt := range tests {
		c := config.Default()
		c.TimeOrigin = tt.origin
		err := c.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("origin %q: %v", tt.origin, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("origin %q: error %v; want one saying %q", tt.origin, err, tt.wantErr)
		}
	}
}
