package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/secondbrain-dev/secondbrain/server/config"
	"github.com/secondbrain-dev/secondbrain/server/faults"
	"github.com/secondbrain-dev/secondbrain/server/packing"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// configFlags are the flags shared by `serve` and `config show`; a flag
// given on the command line overrides the environment and the file.
type configFlags struct {
	file string
	c    config.Config // flag values (applied only when the flag was set)
	// separate holders for list / secret flags
	roots, canary, origins string
	httpToken              string
}

func (f *configFlags) register(fs *pflag.FlagSet) {
	d := config.Default()
	fs.StringVar(&f.file, "config", "", "config file (default ./secondbrain.yaml if present; env SECONDBRAIN_CONFIG)")
	fs.StringVar(&f.roots, "roots", "", "comma-separated allowed roots for context paths; the first is the project (default: working directory)")
	fs.StringVar(&f.c.DB, "db", d.DB, "SQLite database for sessions and vector-store records")
	fs.DurationVar(&f.c.SessionTTL, "session-ttl", d.SessionTTL, "idle time after which a session expires")
	fs.StringVar(&f.c.Provider, "provider", "", `"fake": run the fake OpenAI-compatible API in-process and point every model at it (no keys needed)`)
	fs.StringVar(&f.c.BaseURL, "base-url", "", "point ALL providers at this OpenAI-compatible base URL (e.g. http://127.0.0.1:9999/v1)")
	fs.StringVar(&f.c.HTTP.Addr, "http", "", "serve streamable HTTP on this address (e.g. 127.0.0.1:8765) instead of stdio")
	fs.StringVar(&f.httpToken, "http-token", "", "bearer token required on HTTP (mandatory for a non-loopback --http)")
	fs.StringVar(&f.origins, "http-allowed-origins", "", "comma-separated browser origins allowed besides loopback")
	fs.IntVar(&f.c.HTTP.MaxSessions, "http-max-sessions", 0, "live HTTP sessions kept at most; a new one evicts the longest idle (default 1000)")
	fs.DurationVar(&f.c.HTTP.SessionIdleTTL, "http-session-idle-ttl", 0, "end an HTTP session unused this long (default 30m)")
	fs.StringVar(&f.c.Log.Level, "log-level", d.Log.Level, "debug, info, warn or error")
	fs.StringVar(&f.c.Log.Format, "log-format", d.Log.Format, "stderr log format: text or json")
	fs.StringVar(&f.c.Log.Shipping, "log-shipping", d.Log.Shipping, "async (default); sync, sync-log, sync-stderr are DELIBERATELY BLOCKING canary modes")
	fs.StringVar(&f.c.Log.VictoriaLogsURL, "victorialogs-url", "", "ship logs to this VictoriaLogs base URL")
	fs.StringVar(&f.c.Debug.Addr, "debug-addr", "", "serve pprof, /metrics and /debug/calls on this loopback address (e.g. 127.0.0.1:0)")
	fs.StringVar(&f.c.Debug.AddrFile, "debug-addr-file", "", "write the debug listener's bound address to this file")
	fs.BoolVar(&f.c.Debug.Profiling, "debug-profiling", false, "turn on block and mutex profiling and the runtime/trace flight recorder (harness)")
	fs.BoolVar(&f.c.DeveloperMode, "developer-mode", false, "register developer tools (search_mcp_debug_logs)")
	fs.Float64Var(&f.c.TimeScale, "time-scale", 1, "run internal timers (polling, progress, timeouts, TTLs) this many times faster (debug/harness)")
	fs.StringVar(&f.c.TimeOrigin, "time-origin", "", "RFC 3339 instant the scaled clock counts from (default: the server's start); servers given one origin agree on the time across restarts (harness)")
	fs.StringVar(&f.canary, "canary", "", "comma-separated canaries to inject (harness only)")
	fs.Int64Var(&f.c.MaxFileBytes, "max-file-bytes", 0, "per-file size cap for context (default 2 MB)")
	fs.Int64Var(&f.c.MaxTotalBytes, "max-total-bytes", 0, "total size cap for context (default 50 MB)")
	fs.StringVar(&f.c.VectorStore, "vector-store", config.VectorStoreAuto, "where overflow files go to be searched: auto (OpenAI's vector stores for OpenAI models with an OpenAI key, else the local index), openai, local, off")
	fs.DurationVar(&f.c.VectorStoreTTL, "vector-store-ttl", 0, "delete a session's vector store after this much idle time (default 6h)")
	fs.DurationVar(&f.c.VectorStoreEvictIdle, "vector-store-evict-idle", 0, "near the store limit, evict only stores idle at least this long (default 10m)")
}

// load builds the effective config: defaults < file < env < flags, checked
// and resolved (see resolve) — `serve` and `config show` both use it, so
// show prints what serve would run with and fails where serve would fail.
func (f *configFlags) load(fs *pflag.FlagSet) (config.Config, error) {
	c, _, err := f.loadFrom(fs)
	return c, err
}

// loadFrom is load that also says which config file was read ("" = none).
func (f *configFlags) loadFrom(fs *pflag.FlagSet) (config.Config, string, error) {
	c, file, err := f.merge(fs)
	if err != nil {
		return c, file, err
	}
	c, err = resolve(c)
	return c, file, err
}

func (f *configFlags) merge(fs *pflag.FlagSet) (config.Config, string, error) {
	c := config.Default()
	file, required := f.file, true
	if file == "" {
		file = os.Getenv("SECONDBRAIN_CONFIG")
	}
	if file == "" {
		file, required = config.DefaultFile, false
	}
	if err := config.LoadFile(&c, file, required); err != nil {
		return c, file, err
	}
	if _, err := os.Stat(file); err != nil {
		file = "" // optional and absent: nothing was read
	}
	if err := config.ApplyEnv(&c, os.Getenv); err != nil {
		return c, file, fmt.Errorf("cannot read the environment: %w", err)
	}
	set := map[string]func(){
		"roots":                 func() { c.Roots = config.SplitList(f.roots) },
		"db":                    func() { c.DB = f.c.DB },
		"session-ttl":           func() { c.SessionTTL = f.c.SessionTTL },
		"provider":              func() { c.Provider = f.c.Provider },
		"base-url":              func() { c.BaseURL = f.c.BaseURL },
		"http":                  func() { c.HTTP.Addr = f.c.HTTP.Addr },
		"http-token":            func() { c.HTTP.Token = f.httpToken },
		"http-allowed-origins":  func() { c.HTTP.AllowedOrigins = config.SplitList(f.origins) },
		"http-max-sessions":     func() { c.HTTP.MaxSessions = f.c.HTTP.MaxSessions },
		"http-session-idle-ttl": func() { c.HTTP.SessionIdleTTL = f.c.HTTP.SessionIdleTTL },
		"log-level":             func() { c.Log.Level = f.c.Log.Level },
		"log-format":            func() { c.Log.Format = f.c.Log.Format },
		"log-shipping":          func() { c.Log.Shipping = f.c.Log.Shipping },
		"victorialogs-url":      func() { c.Log.VictoriaLogsURL = f.c.Log.VictoriaLogsURL },
		"debug-addr":            func() { c.Debug.Addr = f.c.Debug.Addr },
		"debug-addr-file":       func() { c.Debug.AddrFile = f.c.Debug.AddrFile },
		"debug-profiling":       func() { c.Debug.Profiling = f.c.Debug.Profiling },
		"developer-mode":        func() { c.DeveloperMode = f.c.DeveloperMode },
		"time-scale":            func() { c.TimeScale = f.c.TimeScale },
		"time-origin":           func() { c.TimeOrigin = f.c.TimeOrigin },
		"canary":                func() { c.Canary = config.SplitList(f.canary) },
		"max-file-bytes":        func() { c.MaxFileBytes = f.c.MaxFileBytes },
		"max-total-bytes":       func() { c.MaxTotalBytes = f.c.MaxTotalBytes },
		"vector-store":          func() { c.VectorStore = f.c.VectorStore },
	}
	set["vector-store-ttl"] = func() { c.VectorStoreTTL = f.c.VectorStoreTTL }
	set["vector-store-evict-idle"] = func() { c.VectorStoreEvictIdle = f.c.VectorStoreEvictIdle }
	fs.Visit(func(fl *pflag.Flag) {
		if apply, ok := set[fl.Name]; ok {
			apply()
		}
	})
	// Canaries are known to package faults only; checked here so that
	// `config show` refuses what serve refuses.
	cerr := faults.Check(c.Canary)
	_, merr := buildModels(c)
	if err := errors.Join(c.Validate(), cerr, merr); err != nil {
		return c, file, err
	}
	return c, file, nil
}

// resolve replaces "use the default" zeros by the values serve runs with:
// roots (the working directory), absolute paths, the size caps, the
// vector-store TTL and eviction idle time, and the per-provider base URLs
// after base_url.
func resolve(c config.Config) (config.Config, error) {
	if len(c.Roots) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return c, fmt.Errorf("cannot default the roots to the working directory: %w", err)
		}
		c.Roots = []string{wd}
	}
	roots := make([]string, len(c.Roots))
	for i, r := range c.Roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return c, fmt.Errorf("cannot resolve root %q: %w", r, err)
		}
		roots[i] = abs
	}
	c.Roots = roots
	if c.DB != ":memory:" {
		if abs, err := filepath.Abs(c.DB); err == nil {
			c.DB = abs
		}
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = packing.DefaultMaxFileBytes
	}
	if c.MaxTotalBytes == 0 {
		c.MaxTotalBytes = packing.DefaultMaxTotalBytes
	}
	if c.VectorStoreTTL == 0 {
		c.VectorStoreTTL = vectorstore.DefaultStoreTTL
	}
	if c.VectorStoreEvictIdle == 0 {
		c.VectorStoreEvictIdle = vectorstore.DefaultEvictMinIdle
	}
	eps, _ := c.Endpoints()
	c.OpenAI, c.Gemini, c.XAI, c.Anthropic = eps[config.ProviderOpenAI], eps[config.ProviderGemini], eps[config.ProviderXAI], eps[config.ProviderAnthropic]
	return c, nil
}

// setEnv lists the variables of config.Env (and SECONDBRAIN_CONFIG) that are
// set: names only, never values.
func setEnv(lookup func(string) (string, bool)) []string {
	var out []string
	for _, k := range append([]string{"SECONDBRAIN_CONFIG"}, config.Env...) {
		if v, ok := lookup(k); ok && v != "" {
			out = append(out, k)
		}
	}
	return out
}

// showConfig writes the effective configuration, secrets masked.
func showConfig(out io.Writer, c config.Config, file string, env []string) error {
	m := c.Masked()
	b, err := m.YAML()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "# effective secondbrain configuration (defaults < file < environment < flags; secrets masked)")
	if file != "" {
		fmt.Fprintf(out, "# config file: %s\n", file)
	} else {
		fmt.Fprintln(out, "# config file: none")
	}
	if len(env) > 0 {
		fmt.Fprintf(out, "# environment variables set: %s\n", strings.Join(env, " "))
	} else {
		fmt.Fprintln(out, "# environment variables set: none")
	}
	if c.Provider == "fake" {
		fmt.Fprintln(out, "# provider fake: every model uses the in-process fake API (its URL is chosen at start; keys are not needed)")
	}
	_, err = out.Write(b)
	return err
}

func newConfigCmd() *cobra.Command {
	var f configFlags
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration (defaults resolved; file < env < flags), secrets masked; exits 2 on a value serve would refuse",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, file, err := f.loadFrom(cmd.Flags())
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return showConfig(cmd.OutOrStdout(), c, file, setEnv(os.LookupEnv))
		},
	}
	f.register(show.Flags())
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the configuration",
	}
	cmd.AddCommand(show)
	return cmd
}
