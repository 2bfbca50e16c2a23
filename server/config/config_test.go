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
	o, g, x := c.Endpoints()
	if o.BaseURL != c.BaseURL || g.BaseURL != c.BaseURL || x.BaseURL != c.BaseURL {
		t.Errorf("override not applied: %v %v %v", o, g, x)
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
