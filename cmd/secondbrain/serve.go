package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/config"
	"github.com/secondbrain-dev/secondbrain/server/debug"
	"github.com/secondbrain-dev/secondbrain/server/debugapi"
	"github.com/secondbrain-dev/secondbrain/server/faults"
	"github.com/secondbrain-dev/secondbrain/server/localindex"
	"github.com/secondbrain-dev/secondbrain/server/logship"
	"github.com/secondbrain-dev/secondbrain/server/memory"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/redact"
	"github.com/secondbrain-dev/secondbrain/server/session"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

func newServeCmd() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the MCP server (stdio by default, or streamable HTTP with --http)",
		Long: `Run the secondbrain MCP server.

Register with Claude Code:  claude mcp add secondbrain -- secondbrain serve
Try without keys:           secondbrain serve --provider fake
HTTP:                       secondbrain serve --http 127.0.0.1:8765`,
		Args: cobra.NoArgs, // a stray word is a mistake (a flag's value without its =?), not ignored
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.load(cmd.Flags())
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return serve(cmd.Context(), c, os.Stdin, os.Stdout, os.Stderr)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// serve starts the parts in order and stops them in reverse, logging how
// long each stop took.
func serve(ctx context.Context, c config.Config, stdin io.Reader, stdout, stderr io.Writer) (retErr error) {
	// A host that closes our stderr (or stdout) must not kill the server with
	// SIGPIPE on the next write: get EPIPE instead, and carry on or stop cleanly.
	signal.Ignore(syscall.SIGPIPE)
	// 1. Logging. Everything below logs through it; it is closed last.
	if err := faults.Check(c.Canary); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	logs, err := startLogging(c, stderr)
	if err != nil {
		return err
	}
	ps := &parts{log: logs.Logger().With("component", "serve")}
	defer func() { retErr = ps.shutdown(logs, stderr, retErr) }()
	if len(c.Canary) > 0 {
		ps.log.Warn("CANARIES ON: deliberately re-creating known root causes of hangs (harness only)", "canary", strings.Join(c.Canary, ","))
	}
	if len(c.Roots) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		c.Roots = []string{wd}
	}
	srv, err := ps.startServer(ctx, c, logs)
	if err != nil {
		return err
	}
	return ps.runTransport(ctx, c, srv, stdin, stdout)
}

// parts are what serve has started, with the stops that end them in
// reverse order within the shutdown deadline, which starts when the
// transport is told to stop (a signal) or stops by itself (the client
// left); see stopAll.
type parts struct {
	log           *slog.Logger
	stops         []namedStop
	shutdownStart time.Time
}

func (ps *parts) add(name string, stop func()) { ps.stops = append(ps.stops, namedStop{name, stop}) }

// shutdown stops every part, then flushes the logs within what is left of
// the deadline (at most logFlushMax), and turns an overrun into exit
// status 1.
func (ps *parts) shutdown(logs *logship.Pipeline, stderr io.Writer, retErr error) error {
	if ps.shutdownStart.IsZero() { // a start-up error: nothing was serving
		ps.shutdownStart = time.Now()
	}
	deadline := ps.shutdownStart.Add(shutdownDeadline)
	if ps.stops != nil {
		if err := stopAll(ps.log, ps.stops, ps.shutdownStart, deadline); err != nil && retErr == nil {
			retErr = &exitError{code: exitFail, err: err}
		}
	}
	cctx, cancel := context.WithDeadline(context.Background(), logFlushDeadline(time.Now(), deadline))
	defer cancel()
	if err := logs.Close(cctx); err != nil {
		// The sink is down or hung: what it did not take is counted in
		// err, and the exit is not held up for it.
		fmt.Fprintln(stderr, "secondbrain: shutdown: log shipping:", err)
	}
	if over := time.Since(ps.shutdownStart); over > shutdownDeadline {
		fmt.Fprintf(stderr, "secondbrain: shutdown deadline passed: took %v\n", over.Round(time.Millisecond))
		if retErr == nil {
			retErr = &exitError{code: exitFail, err: fmt.Errorf("shutdown took %v, past its %v deadline", over.Round(time.Millisecond), shutdownDeadline)}
		}
	}
	return retErr
}

// startLogging starts the log pipeline; the two log canaries are its
// deliberately blocking modes.
func startLogging(c config.Config, stderr io.Writer) (*logship.Pipeline, error) {
	level, err := logship.ParseLevel(c.Log.Level)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	format, err := logship.ParseFormat(c.Log.Format)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	canary := func(name string) bool { return slices.Contains(c.Canary, name) }
	switch {
	case canary(faults.SyncLog) && canary(faults.SyncStderr):
		c.Log.Shipping = string(logship.ModeSync)
	case canary(faults.SyncLog):
		c.Log.Shipping = string(logship.ModeSyncLog)
	case canary(faults.SyncStderr):
		c.Log.Shipping = string(logship.ModeSyncStderr)
	}
	mode, err := logship.ParseMode(c.Log.Shipping)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	logs, err := logship.Start(logship.Config{
		Stderr: stderr, Format: format, StderrLevel: lv, VictoriaLogsURL: c.Log.VictoriaLogsURL,
		Mode: mode, Secrets: c.Secrets(),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start logging: %w", err)
	}
	if mode != logship.ModeAsync {
		logs.Logger().Warn("DELIBERATELY BLOCKING log shipping mode (canary); never use in production", "component", "serve", "mode", mode)
	}
	return logs, nil
}

// startServer starts, in order, the faults asked for, the fake API (if
// asked), the sessions, the vector stores and project memory, the MCP
// server and the debug listener.
func (ps *parts) startServer(ctx context.Context, c config.Config, logs *logship.Pipeline) (*server.Server, error) {
	httpClient := provider.DefaultHTTPClient()
	if slices.Contains(c.Canary, faults.ConnPool) {
		// CANARY: one connection per host and no timeouts, a suspected root cause of hangs.
		httpClient = &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	}
	origin, _ := c.ClockOrigin() // checked with the rest of c
	clk := clock.NewScaledFrom(c.TimeScale, origin)
	faultSet, err := faults.New(c.Canary, clk)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if faultSet != nil {
		ps.add("faults", faultSet.Close) // stopped after the server
	}
	// 2. The model registry, then the fake API, if asked.
	models, err := buildModels(c)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	eps, err := ps.startFakeAPI(ctx, c, clk)
	if err != nil {
		return nil, err
	}
	// 3. Sessions.
	st, err := session.Open(ctx, c.DB, session.Options{TTL: c.SessionTTL, Clock: clk})
	if err != nil {
		return nil, err
	}
	ps.add("sessions", func() { _ = st.Close() })
	// 4. Metrics registry (served by the debug listener).
	reg := debug.NewRegistry()
	// 5. Vector stores: overflow goes to OpenAI's vector stores (or the fake's).
	vs, err := ps.startVectorStores(ctx, c, eps[config.ProviderOpenAI], httpClient, st, clk, logs, models)
	if err != nil {
		return nil, err
	}
	// 6. The MCP server.
	o := server.Options{
		Version:   version,
		Endpoints: eps,
		Models:    models,
		Roots:     c.Roots, MaxFileBytes: c.MaxFileBytes, MaxTotalBytes: c.MaxTotalBytes,
		Sessions: st, DebugLogs: debugLogSearcher(c), DeveloperMode: c.DeveloperMode,
		Clock: clk, Logger: logs.Logger(), Registerer: reg, HTTPClient: httpClient,
	}
	// Set only when running: a nil pointer in an interface would be called.
	if vs.mgr != nil {
		o.StoreChecker, o.SessionStores = vs.mgr, vs.mgr
	}
	if vs.router != nil {
		o.Attacher = vs.router
	}
	if vs.mw != nil {
		o.Memory, o.HistoryReports = vs.mw, vs.mw
	}
	if faultSet != nil {
		o.ModelCallHook, o.Stdio.Dispatch = faultSet, faultSet
	}
	o.JobStore = st.DB()
	srv, err := server.New(o)
	if err != nil {
		return nil, err
	}
	ps.add("server", srv.Close)
	if n, err := srv.ResumeJobs(ctx); err != nil {
		ps.log.Warn("cannot resume the jobs a stopped server left", "err", err)
	} else if n > 0 {
		ps.log.Info("resumed jobs a stopped server left", "jobs", n)
	}
	// 7. Debug listener.
	return srv, ps.startDebug(ctx, c, debugParts{reg: reg, logs: logs, srv: srv, httpClient: httpClient, db: st.DB(), mw: vs.mw})
}

// startFakeAPI starts the in-process fake API when the provider is
// "fake" and points every endpoint at it; else it returns the configured
// endpoints. A provider that needs no key (api_key_env empty: a local
// server) gets a placeholder, as OpenAI-compatible clients must send one.
func (ps *parts) startFakeAPI(ctx context.Context, c config.Config, clk clock.Clock) (map[string]provider.Endpoint, error) {
	cfg, keyEnv := c.Endpoints()
	eps := map[string]provider.Endpoint{}
	for name, ep := range cfg {
		e := provider.Endpoint{Name: name, BaseURL: ep.BaseURL, APIKey: ep.APIKey, KeyEnv: keyEnv[name]}
		if e.KeyEnv == "" && e.APIKey == "" {
			e.APIKey = "none"
		}
		eps[name] = e
	}
	if c.Provider != "fake" {
		return eps, nil
	}
	// A fresh id namespace per process: the sessions in SQLite outlive this
	// in-process fake, and must never mistake its new objects for old ones.
	fake := fakeai.New(fakeai.WithClock(clk), fakeai.WithIDNamespace(strconv.FormatInt(time.Now().UnixNano()%1e9, 36)))
	base, stopFake, err := fake.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ps.add("fakeai", func() { stopFake(); _ = fake.Close() })
	for name, ep := range eps {
		ep.BaseURL, ep.APIKey = base+"/v1", "fake-key"
		eps[name] = ep
	}
	ps.log.Info("fake provider running", "base_url", base+"/v1")
	return eps, nil
}

// vectorStores are where overflow goes (the provider's vector-store
// manager, the local index, and the router over both), and the project
// memory writer over the manager; each nil when not running.
type vectorStores struct {
	mgr    *vectorstore.Manager
	mw     *memory.Writer
	router *overflowRouter
}

// startVectorStores starts what --vector-store asks for: the OpenAI
// vector-store manager and the project memory writer over it (when OpenAI,
// or the fake, has a key), and the local index, used for the models the
// manager does not serve.
func (ps *parts) startVectorStores(ctx context.Context, c config.Config, oa provider.Endpoint, httpClient *http.Client,
	st *session.Store, clk clock.Clock, logs *logship.Pipeline, models []server.Model) (vectorStores, error) {
	mode, err := c.VectorStoreMode()
	if err != nil {
		return vectorStores{}, err
	}
	if mode == config.VectorStoreOff {
		ps.log.Info("overflow files will be listed, not made searchable: --vector-store off")
		ps.log.Info("search_project_history not registered: project memory needs vector stores, turned off by --vector-store off")
		return vectorStores{}, nil
	}
	var vs vectorStores
	if mode == config.VectorStoreLocal {
		ps.log.Info("search_project_history not registered: project memory needs OpenAI's vector stores, not used with --vector-store local")
	} else {
		if vs, err = ps.startOpenAIStores(ctx, c, oa, httpClient, st, clk, logs); err != nil {
			return vectorStores{}, err
		}
	}
	var local *localindex.Index
	if mode != config.VectorStoreOpenAI {
		if local, err = localindex.Open(ctx, st.DB(), localindex.Options{Clock: clk, TTL: c.VectorStoreTTL}); err != nil {
			return vectorStores{}, err
		}
	}
	openAITools := map[string]bool{}
	for _, m := range models {
		openAITools[m.Tool] = m.Provider == server.ProviderOpenAI
	}
	r := &overflowRouter{local: local, remoteFor: func(tool string) bool { return mode == config.VectorStoreOpenAI || openAITools[tool] }}
	if vs.mgr != nil {
		r.remote = vs.mgr
	}
	if r.remote != nil || r.local != nil {
		vs.router = r
	}
	return vs, nil
}

// startOpenAIStores starts the OpenAI vector-store manager and the project
// memory writer over it, when OpenAI (or the fake) has a key.
func (ps *parts) startOpenAIStores(ctx context.Context, c config.Config, oa provider.Endpoint, httpClient *http.Client,
	st *session.Store, clk clock.Clock, logs *logship.Pipeline) (vectorStores, error) {
	if oa.APIKey == "" {
		ps.log.Info("no OpenAI key: overflow files go to the local index (--vector-store auto) or are listed only (openai)")
		ps.log.Info("search_project_history not registered: project memory needs an OpenAI key (OPENAI_API_KEY) or --provider fake")
		return vectorStores{}, nil
	}
	vc := openai.NewClient(option.WithBaseURL(strings.TrimRight(oa.BaseURL, "/")+"/"), option.WithAPIKey(oa.APIKey),
		option.WithHTTPClient(httpClient), option.WithMiddleware(provider.TraceMiddleware))
	mgr, err := vectorstore.NewManager(ctx, vc, st.DB(), vectorstore.Options{Clock: clk, Logger: logs.Logger(),
		StoreTTL: c.VectorStoreTTL, EvictMinIdle: c.VectorStoreEvictIdle})
	if err != nil {
		return vectorStores{}, err
	}
	mctx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	if err := mgr.Start(mctx); err != nil {
		stopMgr()
		return vectorStores{}, err
	}
	ps.add("vectorstore", func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := mgr.Close(cctx); err != nil {
			ps.log.Warn("vector-store manager did not stop cleanly", "err", err)
		}
		stopMgr()
	})
	// Project memory: a background writer over the same manager; the reply
	// never waits for it.
	mw := memory.New(mgr, memory.Options{Clock: clk, Logger: logs.Logger(), Redact: c.Secrets()})
	if err := mw.Start(mctx); err != nil {
		return vectorStores{}, err
	}
	ps.add("memory writer", func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := mw.Close(cctx); err != nil {
			ps.log.Warn("memory writer did not drain", "err", err)
		}
	})
	return vectorStores{mgr: mgr, mw: mw}, nil
}

// debugLogSearcher queries the server's own logs in VictoriaLogs, nil
// without a sink.
func debugLogSearcher(c config.Config) server.DebugLogSearcher {
	if c.Log.VictoriaLogsURL == "" {
		return nil
	}
	url := c.Log.VictoriaLogsURL
	return func(ctx context.Context, q string, limit int) ([]map[string]any, error) {
		return logship.Query(ctx, url, q, limit, 256<<10)
	}
}

// debugParts are what the debug listener serves.
type debugParts struct {
	reg        *prometheus.Registry
	logs       *logship.Pipeline
	srv        *server.Server
	httpClient *http.Client
	db         *sql.DB
	mw         *memory.Writer // nil: no project memory
}

// startDebug starts the debug listener when an address is configured.
func (ps *parts) startDebug(ctx context.Context, c config.Config, d debugParts) error {
	if c.Debug.Addr == "" {
		return nil
	}
	o := debug.Options{
		Addr: c.Debug.Addr, AddrFile: c.Debug.AddrFile, Gatherer: d.reg, Logger: d.logs.Logger(),
		Redact: redact.New(c.Secrets()...).RedactString,
		Handlers: map[string]http.Handler{
			debugapi.PathCalls: d.srv.Calls(),
			// POST: close idle provider keep-alives before a harness counts fds.
			debugapi.PathSettle: server.SettleHandler(server.SettleOptions{HTTPClients: []*http.Client{d.httpClient}, DBs: []*sql.DB{d.db}}),
		},
		Vars: func() any {
			v := debugapi.Vars{Logship: d.logs.Stats(), Calls: d.srv.Calls().Snapshot(), Transport: d.srv.TransportStats()}
			if d.mw != nil {
				v.Memory = d.mw.Stats()
			}
			return v
		},
	}
	if c.Debug.Profiling {
		o.BlockProfileRate, o.MutexProfileFraction, o.FlightRecorder = 1, 1, true
	}
	dl, err := debug.Start(ctx, o)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	ps.log.Info("debug listener bound", "addr", dl.Addr())
	ps.add("debug listener", func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = dl.Stop(cctx)
	})
	return nil
}

// runTransport serves until the client leaves or a signal arrives. The
// transport runs on its own goroutine so a signal starts the shutdown
// deadline even if the transport's own stop hangs.
func (ps *parts) runTransport(ctx context.Context, c config.Config, srv *server.Server, stdin io.Reader, stdout io.Writer) error {
	log := ps.log
	transportDone := make(chan error, 1)
	if c.HTTP.Addr != "" {
		go func() {
			// Logged once bound: a refused address (non-loopback without a
			// token) must not first claim to be serving.
			transportDone <- srv.ListenHTTP(ctx, server.HTTPOptions{Addr: c.HTTP.Addr, Token: c.HTTP.Token, AllowedOrigins: c.HTTP.AllowedOrigins,
				MaxSessions: c.HTTP.MaxSessions, SessionIdleTTL: c.HTTP.SessionIdleTTL},
				func(addr string) {
					log.Info("serving MCP over streamable HTTP", "addr", c.HTTP.Addr)
					log.Info("HTTP listener bound", "addr", addr, "url", "http://"+addr+"/mcp")
				})
		}()
	} else {
		log.Info("serving MCP over stdio", "roots", strings.Join(c.Roots, ","), "provider", c.Provider)
		go func() { transportDone <- srv.ServeStdio(ctx, stdin, stdout) }()
	}
	var err error
	select {
	case err = <-transportDone:
		ps.shutdownStart = time.Now()
		log.Info("shutdown started", "reason", "transport ended", "err", err, "deadline", shutdownDeadline)
		return err
	case <-ctx.Done():
	}
	ps.shutdownStart = time.Now()
	// Stopping the transport cancels the in-flight calls, which cancel their
	// background responses at the provider (provider clients wait for those
	// cancels in the "server" stop).
	log.Info("shutdown started", "reason", context.Cause(ctx), "deadline", shutdownDeadline,
		"in_flight_calls", len(srv.Calls().Snapshot().InFlight))
	select {
	case err = <-transportDone:
		log.Info("stopped", "part", "transport", "took", time.Since(ps.shutdownStart))
	case <-time.After(shutdownDeadline):
		log.Error("shutdown deadline passed: transport abandoned", "part", "transport", "took", time.Since(ps.shutdownStart))
		// Nothing else may stop while the transport's handlers still use it: exit now.
		ps.stops = nil
		return &exitError{code: exitFail, err: fmt.Errorf("shutdown: transport did not stop within %v; abandoned", shutdownDeadline)}
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return nil // a signal: a clean stop
	}
	// Stopped on a signal, but not cleanly (an HTTP handler had to be
	// abandoned): say so and exit non-zero.
	return &exitError{code: exitFail, err: err}
}

// shutdownDeadline bounds serve's whole stop, from the signal (or the
// client leaving) to the exit. The replay harness and most hosts SIGKILL
// sooner; this is the backstop for a stage that hangs.
const shutdownDeadline = 10 * time.Second

// stopAll runs stops in reverse order, logging how long each took. A stage
// still running at deadline is abandoned (logged, and named in the error):
// the process is about to exit, which ends it.
func stopAll(log *slog.Logger, stops []namedStop, t0, deadline time.Time) error {
	for i := len(stops) - 1; i >= 0; i-- {
		st := stops[i]
		t1 := time.Now()
		done := make(chan struct{})
		go func() { defer close(done); st.stop() }()
		select {
		case <-done:
			log.Info("stopped", "part", st.name, "took", time.Since(t1))
		case <-time.After(time.Until(deadline)):
			var left []string
			for j := i; j >= 0; j-- {
				left = append(left, stops[j].name)
			}
			log.Error("shutdown deadline passed: stop abandoned", "part", st.name, "took", time.Since(t1),
				"not_stopped", strings.Join(left, ","), "total", time.Since(t0))
			return fmt.Errorf("shutdown: %s did not stop in time; abandoned %s", st.name, strings.Join(left, ", "))
		}
	}
	log.Info("shutdown finished", "took", time.Since(t0))
	return nil
}

// logFlushMax bounds the last flush of the logs: a sink that is down or
// hung costs the exit this long at most (its records are then counted as
// undelivered), never the rest of the shutdown deadline.
const logFlushMax = 3 * time.Second

// logFlushDeadline is when the last log flush, starting at now, gives up:
// logFlushMax later, and early enough to exit before the shutdown
// deadline — but always a moment to write the last lines to stderr.
func logFlushDeadline(now, shutdown time.Time) time.Time {
	const margin, least = 250 * time.Millisecond, 100 * time.Millisecond
	d := now.Add(logFlushMax)
	if end := shutdown.Add(-margin); end.Before(d) {
		d = end
	}
	if d.Before(now.Add(least)) {
		d = now.Add(least)
	}
	return d
}

type namedStop struct {
	name string
	stop func()
}
