package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/debugapi"
	"github.com/secondbrain-dev/secondbrain/server/jobs"
	"github.com/secondbrain-dev/secondbrain/server/memory"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/session"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// Defaults for [Options].
const (
	DefaultProgressInterval       = 10 * time.Second // scenario time; hosts give up after 60 s of silence
	DefaultSessionCleanupInterval = 10 * time.Minute
	DefaultSearchResults          = 8
)

// HistorySearcher searches the project's memory (past conversations, commit
// log). The vector-store layer implements it; nil means the
// search_project_history tool and function are absent.
type HistorySearcher interface {
	SearchHistory(ctx context.Context, project string, queries []string, maxResults int, storeTypes []string) ([]vectorstore.SearchHit, error)
}

// StoreForgetter checks with the provider whether a vector store is gone
// and, if so, forgets it; *vectorstore.Manager is one.
type StoreForgetter interface {
	ForgetMissingStore(ctx context.Context, storeID string) (bool, error)
}

// SessionDescriber describes a session's vector store; *vectorstore.Manager
// is one.
type SessionDescriber interface {
	DescribeSession(ctx context.Context, project, tool, sessionID string) (vectorstore.SessionInfo, bool, error)
}

// HistoryReporter searches project memory like [HistorySearcher] and also
// names the memory stores found missing at the provider; *memory.Writer is
// one.
type HistoryReporter interface {
	SearchHistoryReport(ctx context.Context, project string, queries []string, maxResults int, storeTypes []string) (memory.HistoryResult, error)
}

// DebugLogSearcher runs a LogsQL query against the server's own logs (the
// logship layer provides it). nil means no search_mcp_debug_logs tool.
type DebugLogSearcher func(ctx context.Context, query string, limit int) ([]map[string]any, error)

// Options configures [New]. Sessions is required; every other zero value means the default.
type Options struct {
	Name, Version string
	Models        []Model                      // nil: DefaultModels()
	Endpoints     map[string]provider.Endpoint // by Provider name
	// Roots are the allowed roots; Roots[0] is the project (sessions and
	// vector stores are per project). Empty: the working directory.
	Roots         []string
	MaxFileBytes  int64 // 0: packing default (2 MB)
	MaxTotalBytes int64 // 0: packing default (50 MB)

	Sessions *session.Store
	Attacher vectorstore.Attacher // nil: overflow files are reported as not attached
	History  HistorySearcher      // nil: no search_project_history (Memory's is used if set)
	// Optional capabilities, each given explicitly: the server never looks
	// for one behind another field.
	//
	// StoreChecker confirms that a vector store a provider answer called
	// gone is gone, and forgets it (nil: the provider's word is trusted).
	// JobStore, when set, holds jobs (start_job, poll_job, cancel_job):
	// the server's SQLite database. Jobs a killed server left are resumed
	// by ResumeJobs.
	JobStore     *sql.DB
	StoreChecker StoreForgetter
	// SessionStores describes a session's vector store for
	// describe_session (nil: the answer shows none).
	SessionStores SessionDescriber
	// HistoryReports serves search_project_history, naming the memory
	// stores found missing (nil: History's hits alone).
	HistoryReports HistoryReporter
	// Memory receives every successful exchange (non-blocking; the writer
	// stores it in the background) and, when History is nil, serves
	// search_project_history. nil: nothing is remembered.
	Memory    memory.Memory
	DebugLogs DebugLogSearcher // used only with DeveloperMode
	// DeveloperMode registers the developer tools (search_mcp_debug_logs).
	DeveloperMode bool

	// Clock is the server's one time source: poll backoff, progress,
	// tool timeouts and session TTLs run on it (clock.NewScaled(60) runs
	// them 60 times faster). nil: real time.
	Clock                  clock.Clock
	ProgressInterval       time.Duration // scenario time; 0: DefaultProgressInterval
	SessionCleanupInterval time.Duration // scenario time; 0: DefaultSessionCleanupInterval
	Poll                   provider.PollPolicy
	HTTPClient             *http.Client // for provider calls; nil: provider.DefaultHTTPClient()
	MaxRetries             int          // provider SDK retries; 0: 2

	// ModelCallHook, when set, is called before each model request (see
	// [ModelCallHook]); nil: none.
	ModelCallHook ModelCallHook

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics not registered
	Stdio      StdioOptions
}

// Server is the secondbrain MCP server. Create with [New], serve with
// [Server.ServeStdio] or [Server.HTTPHandler], stop with [Server.Close].
type Server struct {
	opt     Options
	mcp     *mcpserver.MCPServer
	calls   *Calls
	log     *slog.Logger
	clk     clock.Clock
	models  map[string]Model
	clients map[string]*provider.Client
	project string
	jobs    *jobs.Manager // nil: no job tools (Options.JobStore unset)

	bgCtx    context.Context // ends at Close: background work stops
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	httpMu      sync.Mutex
	httpServers []*mcpserver.StreamableHTTPServer // from HTTPHandler, shut down by Close
	httpRefused atomic.Uint64                     // HTTP requests refused by an in-flight bound
	stdio       atomic.Pointer[Stdio]             // the last NewStdio made, for TransportStats
}

// withDefaults fills the zero fields of opt with their defaults and makes
// the roots absolute (the working directory when none is given).
func (opt Options) withDefaults() (Options, error) {
	if opt.History == nil && opt.Memory != nil {
		opt.History = opt.Memory
	}
	if opt.Name == "" {
		opt.Name = "secondbrain"
	}
	if opt.Version == "" {
		opt.Version = "dev"
	}
	if opt.Models == nil {
		opt.Models = DefaultModels()
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = DefaultProgressInterval
	}
	if opt.SessionCleanupInterval <= 0 {
		opt.SessionCleanupInterval = DefaultSessionCleanupInterval
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = provider.DefaultHTTPClient()
	}
	if len(opt.Roots) == 0 {
		wd, err := filepath.Abs(".")
		if err != nil {
			return opt, fmt.Errorf("cannot default the project root to the working directory: %w", err)
		}
		opt.Roots = []string{wd}
	}
	opt.Roots = slices.Clone(opt.Roots) // the caller's slice stays as it was
	for i, r := range opt.Roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return opt, fmt.Errorf("cannot resolve root %q: %w", r, err)
		}
		opt.Roots[i] = abs
	}
	return opt, nil
}

// New builds the server and registers its tools. It starts the session
// cleanup loop, which Close stops.
func New(opt Options) (*Server, error) {
	if opt.Sessions == nil {
		return nil, errors.New("cannot create server: Options.Sessions is nil")
	}
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkModels(opt.Models); err != nil {
		return nil, fmt.Errorf("cannot create server: %w", err)
	}
	calls, err := NewCalls(0, opt.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opt: opt, calls: calls, log: opt.Logger.With("component", "server"), clk: opt.Clock,
		models: map[string]Model{}, clients: map[string]*provider.Client{}, project: opt.Roots[0],
	}
	for name, ep := range opt.Endpoints {
		s.clients[name] = provider.New(ep, provider.Options{
			Clock: opt.Clock, Logger: opt.Logger, HTTPClient: opt.HTTPClient, MaxRetries: opt.MaxRetries, Poll: opt.Poll,
		})
	}
	s.mcp = mcpserver.NewMCPServer(opt.Name, opt.Version,
		mcpserver.WithToolCapabilities(false),
		mcpserver.WithLogging(),
		mcpserver.WithRecovery(),
		// The trace context first (outermost): the call records and the
		// request goroutines' pprof labels carry its trace id.
		mcpserver.WithToolHandlerMiddleware(traceParentMiddleware),
		mcpserver.WithToolHandlerMiddleware(calls.Middleware()),
		mcpserver.WithInstructions("secondbrain consults other models (OpenAI GPT-5.x and o3, Gemini, Claude, Grok, and any configured) with your project's files as context. "+
			"Pass file or directory paths in `context`; reuse a `session_id` to continue a conversation; list_models says which models are available. "+
			"For a long call your host may give up on, use start_job and poll_job."),
	)
	s.registerTools()
	if opt.JobStore != nil {
		if s.jobs, err = jobs.Open(context.Background(), opt.JobStore, s.runJob, jobs.Options{Clock: opt.Clock}); err != nil {
			return nil, err
		}
		s.registerJobTools()
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.bgCtx, s.bgCancel = ctx, cancel
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx := pprof.WithLabels(ctx, pprof.Labels("path", "background", "component", "sessions"))
		pprof.SetGoroutineLabels(ctx)
		opt.Sessions.RunCleanup(ctx, opt.SessionCleanupInterval, func(err error) {
			s.log.Warn("session cleanup failed", "err", err)
		})
	}()
	return s, nil
}

// ResumeJobs runs again the jobs a server that is gone left unfinished,
// and returns how many; call it once the server is up.
func (s *Server) ResumeJobs(ctx context.Context) (int, error) {
	if s.jobs == nil {
		return 0, nil
	}
	return s.jobs.Resume(ctx)
}

// MCP returns the mcp-go protocol core (for in-process transports and tests).
func (s *Server) MCP() *mcpserver.MCPServer { return s.mcp }

// Calls returns the call tracker: mount it at /debug/calls.
func (s *Server) Calls() *Calls { return s.calls }

// Models returns the registry.
func (s *Server) Models() []Model { return append([]Model(nil), s.opt.Models...) }

// NewStdio returns a stdio transport for this server.
func (s *Server) NewStdio() *Stdio {
	t := NewStdio(s.mcp, s.opt.Stdio, s.calls, s.opt.Logger)
	s.stdio.Store(t)
	return t
}

// TransportStats returns the transports' counters: every HTTP handler's
// and the stdio loop's (the last one NewStdio made).
func (s *Server) TransportStats() debugapi.Transport {
	v := debugapi.Transport{Refused: s.httpRefused.Load()}
	if t := s.stdio.Load(); t != nil {
		st := t.Stats()
		v.Refused += st.Refused
		v.Malformed, v.SuppressedResponses, v.Unwritten = st.Malformed, st.SuppressedResponses, st.Unwritten
	}
	return v
}

// ServeStdio serves one client on in/out until in ends or ctx ends (see [Stdio.Serve]).
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	return s.NewStdio().Serve(ctx, in, out)
}

// Close stops the background loops and waits for them and for the
// provider-side cancels still running. It does not close Options.Sessions.
func (s *Server) Close() {
	if s.jobs != nil {
		// Running jobs stay recorded as running: the next server resumes them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.jobs.Close(ctx); err != nil {
			s.log.Warn("jobs did not stop", "err", err)
		}
		cancel()
	}
	s.bgCancel()
	s.bg.Wait()
	s.httpMu.Lock()
	hs := s.httpServers
	s.httpServers = nil
	s.httpMu.Unlock()
	for _, h := range hs {
		// Stops its session sweeper; the connections are the caller's.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = h.Shutdown(ctx)
		cancel()
	}
	for _, c := range s.clients {
		c.Close()
	}
}

// sendProgress sends notifications/progress for the call in ctx, if the
// client asked for progress. It never blocks (mcp-go drops when full).
func (s *Server) sendProgress(ctx context.Context, token mcp.ProgressToken, progress float64, msg string) {
	if token == nil {
		return
	}
	if sink, ok := ctx.Value(progressSinkKey{}).(func(string)); ok {
		sink(msg)
	}
	err := s.mcp.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
		"progressToken": token, "progress": progress, "message": msg,
	})
	if err != nil && !errors.Is(err, mcpserver.ErrNotificationNotInitialized) {
		s.log.Debug("cannot send progress notification", "err", err)
	}
}

// progressLoop sends a progress notification every ProgressInterval (scenario
// time) until ctx ends. The caller owns the goroutine and waits for it.
func (s *Server) progressLoop(ctx context.Context, token mcp.ProgressToken, status func() string) {
	n := 0
	for {
		if err := clock.Sleep(ctx, s.clk, s.opt.ProgressInterval); err != nil {
			return
		}
		n++
		s.sendProgress(ctx, token, float64(n), status())
	}
}
