// Package config is secondbrain's configuration: secondbrain.yaml, then the
// environment, then command-line flags (each overriding the one before, over
// the defaults), and a masked rendering for `secondbrain config show`.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/secondbrain-dev/secondbrain/server/logship"
)

// Default base URLs of the providers (OpenAI-compatible, including /v1 or equivalent).
const (
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	DefaultGeminiBaseURL = "https://generativelanguage.googleapis.com/v1beta/openai/"
	DefaultXAIBaseURL    = "https://api.x.ai/v1"
	// DefaultFile is read from the working directory when --config is not given.
	DefaultFile = "secondbrain.yaml"
)

// Endpoint is one provider's base URL and key.
type Endpoint struct {
	BaseURL string `yaml:"base_url" json:"base_url"`
	APIKey  string `yaml:"api_key" json:"api_key"`
}

// Config is the effective configuration. yaml keys are the file's keys.
type Config struct {
	// Roots are the allowed roots for context paths; the first is the project. Default: the working directory.
	Roots []string `yaml:"roots" json:"roots"`
	// DB is the SQLite file for sessions and vector-store records.
	DB         string        `yaml:"db" json:"db"`
	SessionTTL time.Duration `yaml:"session_ttl" json:"session_ttl"`
	// Provider "fake" runs the fake API in-process and points every model at it.
	Provider string `yaml:"provider" json:"provider"`
	// BaseURL, when set, points every provider at one OpenAI-compatible URL.
	BaseURL   string   `yaml:"base_url" json:"base_url"`
	OpenAI    Endpoint `yaml:"openai" json:"openai"`
	Gemini    Endpoint `yaml:"gemini" json:"gemini"`
	XAI       Endpoint `yaml:"xai" json:"xai"`
	Anthropic Endpoint `yaml:"anthropic" json:"anthropic"`
	// Providers and Models add to (or replace) the built-in registry.
	Providers map[string]Provider `yaml:"providers" json:"providers,omitempty"`
	Models    []Model             `yaml:"models" json:"models,omitempty"`
	// File is the config file read ("" = none); errors in it name it.
	File string `yaml:"-" json:"-"`

	HTTP struct {
		Addr           string   `yaml:"addr" json:"addr"` // "" = stdio
		Token          string   `yaml:"token" json:"token"`
		AllowedOrigins []string `yaml:"allowed_origins" json:"allowed_origins"`
		// MaxSessions and SessionIdleTTL bound the live MCP sessions (0:
		// the server's defaults, 1000 and 30m).
		MaxSessions    int           `yaml:"max_sessions" json:"max_sessions"`
		SessionIdleTTL time.Duration `yaml:"session_idle_ttl" json:"session_idle_ttl"`
	} `yaml:"http" json:"http"`

	Log struct {
		Level           string `yaml:"level" json:"level"`
		Format          string `yaml:"format" json:"format"`
		Shipping        string `yaml:"shipping" json:"shipping"` // async | sync (canaries only)
		VictoriaLogsURL string `yaml:"victorialogs_url" json:"victorialogs_url"`
	} `yaml:"log" json:"log"`

	Debug struct {
		Addr     string `yaml:"addr" json:"addr"`
		AddrFile string `yaml:"addr_file" json:"addr_file"`
		// Profiling turns on block and mutex profiling and the flight recorder (harness).
		Profiling bool `yaml:"profiling" json:"profiling"`
	} `yaml:"debug" json:"debug"`

	DeveloperMode bool    `yaml:"developer_mode" json:"developer_mode"`
	TimeScale     float64 `yaml:"time_scale" json:"time_scale"`
	// TimeOrigin (RFC 3339) is the real instant the scaled clock counts
	// from ("" = the server's start): processes given one origin and scale
	// agree on the time, across restarts (harness).
	TimeOrigin string   `yaml:"time_origin" json:"time_origin"`
	Canary     []string `yaml:"canary" json:"canary"`

	MaxFileBytes  int64 `yaml:"max_file_bytes" json:"max_file_bytes"`
	MaxTotalBytes int64 `yaml:"max_total_bytes" json:"max_total_bytes"`
	// VectorStore says where overflow files go to be searched: auto
	// (OpenAI's vector stores for OpenAI models when there is an OpenAI
	// key, else the local index), openai, local, or off. true and false,
	// from when this was a switch, mean auto and off.
	VectorStore string `yaml:"vector_store" json:"vector_store"`
	// VectorStoreTTL: a session's vector store unused this long is deleted
	// (0 = the vectorstore package's default, 6 h).
	VectorStoreTTL time.Duration `yaml:"vector_store_ttl" json:"vector_store_ttl"`
	// VectorStoreEvictIdle: near the store limit, only stores unused this long
	// may be evicted (0 = the vectorstore package's default, 10 min).
	VectorStoreEvictIdle time.Duration `yaml:"vector_store_evict_idle" json:"vector_store_evict_idle"`
}

// Default returns the defaults.
func Default() Config {
	var c Config
	c.DB = defaultDB()
	c.SessionTTL = 6 * time.Hour
	c.OpenAI.BaseURL = DefaultOpenAIBaseURL
	c.Gemini.BaseURL = DefaultGeminiBaseURL
	c.XAI.BaseURL = DefaultXAIBaseURL
	c.Anthropic.BaseURL = DefaultAnthropicBaseURL
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Log.Shipping = "async"
	c.TimeScale = 1
	c.VectorStore = VectorStoreAuto
	return c
}

func defaultDB() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "secondbrain", "secondbrain.db")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "secondbrain", "secondbrain.db")
	}
	return "secondbrain.db"
}

// LoadFile overlays the yaml file at path on c. Unknown keys are errors.
// A missing file is an error only if required.
func LoadFile(c *Config, path string, required bool) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read config %q: %w", path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // an empty file configures nothing
	}
	if err := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict()).Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cannot parse config %q: %w", path, err)
	}
	c.File = path
	return nil
}

// Env lists the environment variables read by ApplyEnv, for docs and `config show`.
var Env = []string{
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "GEMINI_BASE_URL", "XAI_API_KEY", "XAI_BASE_URL",
	"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
	"SECONDBRAIN_BASE_URL", "SECONDBRAIN_PROVIDER", "SECONDBRAIN_ROOTS", "SECONDBRAIN_DB", "SECONDBRAIN_SESSION_TTL",
	"SECONDBRAIN_HTTP", "SECONDBRAIN_HTTP_TOKEN", "SECONDBRAIN_LOG_LEVEL", "LOG_LEVEL", "SECONDBRAIN_LOG_FORMAT",
	"SECONDBRAIN_LOG_SHIPPING", "VICTORIA_LOGS_URL", "SECONDBRAIN_VICTORIALOGS_URL", "SECONDBRAIN_DEBUG_ADDR",
	"SECONDBRAIN_DEBUG_ADDR_FILE", "SECONDBRAIN_DEBUG_PROFILING", "SECONDBRAIN_DEVELOPER_MODE", "SECONDBRAIN_TIME_SCALE", "SECONDBRAIN_TIME_ORIGIN", "SECONDBRAIN_CANARY",
	"SECONDBRAIN_MAX_FILE_BYTES", "SECONDBRAIN_MAX_TOTAL_BYTES", "SECONDBRAIN_VECTOR_STORE",
}

// ApplyEnv overlays the environment (getenv is os.Getenv in production).
func ApplyEnv(c *Config, getenv func(string) string) error {
	str := func(dst *string, keys ...string) {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				*dst = v
				return
			}
		}
	}
	var errs []error
	str(&c.OpenAI.APIKey, "OPENAI_API_KEY")
	str(&c.OpenAI.BaseURL, "OPENAI_BASE_URL")
	str(&c.Gemini.APIKey, "GEMINI_API_KEY")
	str(&c.Gemini.BaseURL, "GEMINI_BASE_URL")
	str(&c.XAI.APIKey, "XAI_API_KEY")
	str(&c.XAI.BaseURL, "XAI_BASE_URL")
	str(&c.Anthropic.APIKey, "ANTHROPIC_API_KEY")
	str(&c.Anthropic.BaseURL, "ANTHROPIC_BASE_URL")
	for name, p := range c.Providers {
		if p.APIKeyEnv != "" {
			p.APIKey = getenv(p.APIKeyEnv)
			c.Providers[name] = p
		}
	}
	str(&c.BaseURL, "SECONDBRAIN_BASE_URL")
	str(&c.Provider, "SECONDBRAIN_PROVIDER")
	if v := getenv("SECONDBRAIN_ROOTS"); v != "" {
		c.Roots = SplitList(v)
	}
	str(&c.DB, "SECONDBRAIN_DB")
	if v := getenv("SECONDBRAIN_SESSION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("SECONDBRAIN_SESSION_TTL: %w", err))
		}
		c.SessionTTL = d
	}
	str(&c.HTTP.Addr, "SECONDBRAIN_HTTP")
	str(&c.HTTP.Token, "SECONDBRAIN_HTTP_TOKEN")
	str(&c.Log.Level, "SECONDBRAIN_LOG_LEVEL", "LOG_LEVEL")
	str(&c.Log.Format, "SECONDBRAIN_LOG_FORMAT")
	str(&c.Log.Shipping, "SECONDBRAIN_LOG_SHIPPING")
	str(&c.Log.VictoriaLogsURL, "SECONDBRAIN_VICTORIALOGS_URL", "VICTORIA_LOGS_URL")
	str(&c.Debug.Addr, "SECONDBRAIN_DEBUG_ADDR")
	str(&c.Debug.AddrFile, "SECONDBRAIN_DEBUG_ADDR_FILE")
	boolean := func(dst *bool, k string) {
		if v := getenv(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
			}
			*dst = b
		}
	}
	boolean(&c.DeveloperMode, "SECONDBRAIN_DEVELOPER_MODE")
	boolean(&c.Debug.Profiling, "SECONDBRAIN_DEBUG_PROFILING")
	str(&c.VectorStore, "SECONDBRAIN_VECTOR_STORE")
	if v := getenv("SECONDBRAIN_TIME_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("SECONDBRAIN_TIME_SCALE: %w", err))
		}
		c.TimeScale = f
	}
	str(&c.TimeOrigin, "SECONDBRAIN_TIME_ORIGIN")
	if v := getenv("SECONDBRAIN_CANARY"); v != "" {
		c.Canary = SplitList(v)
	}
	for k, dst := range map[string]*int64{"SECONDBRAIN_MAX_FILE_BYTES": &c.MaxFileBytes, "SECONDBRAIN_MAX_TOTAL_BYTES": &c.MaxTotalBytes} {
		if v := getenv(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
			}
			*dst = n
		}
	}
	return errors.Join(errs...)
}

// SplitList splits a comma-separated list, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if t := strings.TrimSpace(p); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// Validate checks values that would otherwise fail later: `serve` and
// `config show` both call it, so a bad value fails the same way in both.
// Each error names the setting and, for enumerations, every valid value.
func (c *Config) Validate() error {
	var errs []error
	if c.Provider != "" && c.Provider != "fake" {
		errs = append(errs, fmt.Errorf("provider must be empty or \"fake\", got %q", c.Provider))
	}
	if _, err := logship.ParseLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log level: %w", err))
	}
	if _, err := logship.ParseFormat(c.Log.Format); err != nil {
		errs = append(errs, fmt.Errorf("log format: %w", err))
	}
	// logship.ParseMode's error lists every mode: async, sync, sync-log, sync-stderr.
	if _, err := logship.ParseMode(c.Log.Shipping); err != nil {
		errs = append(errs, fmt.Errorf("log shipping: %w", err))
	}
	if _, err := c.VectorStoreMode(); err != nil {
		errs = append(errs, err)
	}
	if c.TimeScale <= 0 {
		errs = append(errs, fmt.Errorf("time scale must be > 0, got %v", c.TimeScale))
	}
	if _, err := c.ClockOrigin(); err != nil {
		errs = append(errs, err)
	}
	if c.SessionTTL <= 0 {
		errs = append(errs, fmt.Errorf("session TTL must be > 0, got %v", c.SessionTTL))
	}
	if c.VectorStoreTTL < 0 {
		errs = append(errs, fmt.Errorf("vector_store_ttl must be >= 0 (0 = the default, 6h), got %v", c.VectorStoreTTL))
	}
	if c.VectorStoreEvictIdle < 0 {
		errs = append(errs, fmt.Errorf("vector_store_evict_idle must be >= 0 (0 = the default, 10m), got %v", c.VectorStoreEvictIdle))
	}
	if c.HTTP.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("http.max_sessions must be >= 0 (0 = the default, 1000), got %d", c.HTTP.MaxSessions))
	}
	if c.HTTP.SessionIdleTTL < 0 {
		errs = append(errs, fmt.Errorf("http.session_idle_ttl must be >= 0 (0 = the default, 30m), got %v", c.HTTP.SessionIdleTTL))
	}
	if c.MaxFileBytes < 0 {
		errs = append(errs, fmt.Errorf("max_file_bytes must be >= 0 (0 = the default, 2 MB), got %d", c.MaxFileBytes))
	}
	for name, p := range c.Providers {
		if name == "" || name == "fake" {
			errs = append(errs, fmt.Errorf("providers: %q is not a provider name", name))
		}
		if !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
			errs = append(errs, fmt.Errorf("providers.%s.base_url: must be an http(s) URL, got %q", name, p.BaseURL))
		}
	}
	if c.MaxTotalBytes < 0 {
		errs = append(errs, fmt.Errorf("max_total_bytes must be >= 0 (0 = the default, 50 MB), got %d", c.MaxTotalBytes))
	}
	return errors.Join(errs...)
}

// Built-in provider names; the server's registry names them by these.
const (
	ProviderOpenAI    = "openai"
	ProviderGemini    = "gemini"
	ProviderXAI       = "xai"
	ProviderAnthropic = "anthropic"
)

// Endpoints returns every provider's endpoint by name — the built-in four
// after the BaseURL override, then those under providers: (a configured
// provider of a built-in name replaces it) — and the environment variable
// each key comes from.
func (c *Config) Endpoints() (eps map[string]Endpoint, keyEnv map[string]string) {
	eps = map[string]Endpoint{ProviderOpenAI: c.OpenAI, ProviderGemini: c.Gemini, ProviderXAI: c.XAI, ProviderAnthropic: c.Anthropic}
	keyEnv = map[string]string{ProviderOpenAI: "OPENAI_API_KEY", ProviderGemini: "GEMINI_API_KEY", ProviderXAI: "XAI_API_KEY", ProviderAnthropic: "ANTHROPIC_API_KEY"}
	if c.BaseURL != "" {
		for name, ep := range eps {
			ep.BaseURL = c.BaseURL
			eps[name] = ep
		}
	}
	for name, p := range c.Providers {
		eps[name] = Endpoint{BaseURL: p.BaseURL, APIKey: p.APIKey}
		keyEnv[name] = p.APIKeyEnv
	}
	return eps, keyEnv
}

// Secrets returns every secret value configured (for log redaction).
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.OpenAI.APIKey, c.Gemini.APIKey, c.XAI.APIKey, c.Anthropic.APIKey, c.HTTP.Token} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, p := range c.Providers {
		if p.APIKey != "" {
			out = append(out, p.APIKey)
		}
	}
	return out
}

// Masked returns a copy with every secret replaced by a mask that shows at
// most its last four characters (and only for long secrets).
func (c Config) Masked() Config {
	c.OpenAI.APIKey = Mask(c.OpenAI.APIKey)
	c.Gemini.APIKey = Mask(c.Gemini.APIKey)
	c.XAI.APIKey = Mask(c.XAI.APIKey)
	c.Anthropic.APIKey = Mask(c.Anthropic.APIKey)
	c.HTTP.Token = Mask(c.HTTP.Token)
	c.Roots = append([]string(nil), c.Roots...)
	return c
}

// Mask hides a secret: "" stays "", short secrets become "****".
func Mask(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) < 16:
		return "****"
	}
	return "****" + s[len(s)-4:]
}

// YAML renders c as yaml (secrets as they are: call Masked first).
func (c Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("cannot render config: %w", err)
	}
	return b, nil
}

// ClockOrigin parses TimeOrigin: the zero time when it is empty.
func (c *Config) ClockOrigin() (time.Time, error) {
	if c.TimeOrigin == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, c.TimeOrigin)
	if err != nil {
		return time.Time{}, fmt.Errorf("time origin must be an RFC 3339 time (e.g. 2026-12-04T17:00:00Z), got %q", c.TimeOrigin)
	}
	if t.After(time.Now()) {
		return time.Time{}, fmt.Errorf("time origin %s is in the future", c.TimeOrigin)
	}
	return t, nil
}
