package fakeai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakehttp"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Stat keys always present in [Server.Stats] and GET /_stats.
var statKeys = []string{
	"requests_total", "rate_limited", "server_errors", "stalled", "stalls_released",
	"files_uploaded", "bytes_uploaded", "files_deleted", "uploads_throttled", "uploads_abandoned", "throttle_engagements",
	"vector_stores_created", "vector_stores_deleted", "vector_stores_refused", "vector_store_searches",
	"vector_store_files_attached", "vector_store_files_failed", "file_batches_created", "file_batches_cancelled",
	"responses_created", "responses_background", "responses_cancelled", "responses_deleted", "responses_polled",
	"polls", "chat_completions", "tool_calls_sent", "bad_requests", "not_found", "trace_spans_dropped",
}

// Option configures a [Server] in [New].
type Option func(*Server)

// WithClock sets the clock all latencies, timeouts and background progress
// are measured on. Default: [clock.Real].
func WithClock(c clock.Clock) Option { return func(s *Server) { s.clk = c } }

// WithIDNamespace puts ns into every id the fake issues ("resp_<ns>_000000000001").
// Ids are deterministic per instance; a fake that restarts in front of the same
// client state (serve --provider fake keeps its sessions in SQLite) must use a
// fresh namespace, or the client would take a new object for one it knew.
func WithIDNamespace(ns string) Option { return func(s *Server) { s.idNS = ns } }

// WithFaults sets the initial faults; {"reset":true} returns to them.
func WithFaults(f Faults) Option { return func(s *Server) { s.initial = f } }

// WithModels replaces the model ids listed by GET /v1/models. Requests for
// other models are still answered: the fake does not police model names.
func WithModels(ids ...string) Option {
	return func(s *Server) { s.models = append([]string(nil), ids...) }
}

// DefaultModels are listed by GET /v1/models unless [WithModels] is given.
// Chat and response requests are answered for any model id.
var DefaultModels = []string{"o3", "o3-pro", "o4-mini", "gpt-4.1", "gpt-4.1-mini",
	"o3-deep-research", "o4-mini-deep-research", "gpt-5.2", "gpt-5.2-pro", "gpt-5.1-codex-max",
	"gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview", "gemini-3-flash-preview",
	"claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929",
	"grok-4", "grok-3", "grok-3-mini", "grok-4-1-fast-reasoning"}

// Server is the fake OpenAI-compatible API. It is an http.Handler; mount it
// in httptest.NewServer or run it with [Server.Start]. Safe for concurrent
// use. Call [Server.Close] when done: it releases stalled requests.
type Server struct {
	clk     clock.Clock
	initial Faults
	models  []string
	idNS    string // see WithIDNamespace

	ctx    context.Context // ends at Close: releases stalls and latencies
	cancel context.CancelFunc
	wg     sync.WaitGroup // serve loops of Start
	gate   fakehttp.Gate  // in-flight handlers
	closed atomic.Bool

	counters fakehttp.Counters // fixed keys, made in New: read without a lock
	traces   traceLog          // request intervals by trace id, for [Server.Upstream]

	mu        sync.Mutex // guards everything below; never held during I/O or waits
	faults    Faults
	rules     map[string]*ruleState
	throttle  uploadThrottle
	seq       int64
	files     map[string]*file
	fileOrder []string
	stores    map[string]*vectorStore
	storeOrd  []string
	batches   map[string]*fileBatch
	responses map[string]*response
	listeners []*http.Server

	routes *http.ServeMux // built once in New; read-only after
}

// New returns a fake API. Nothing runs until it serves a request.
func New(opts ...Option) *Server {
	s := &Server{clk: clock.Real{}, models: DefaultModels}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.counters = fakehttp.NewCounters(statKeys...)
	s.faults = s.initial
	s.rules = map[string]*ruleState{}
	s.files = map[string]*file{}
	s.stores = map[string]*vectorStore{}
	s.batches = map[string]*fileBatch{}
	s.responses = map[string]*response{}
	s.routes = s.mux()
	return s
}

func (s *Server) count(key string, n int64) { s.counters.Add(key, n) }

// SetFaults replaces the fault model and restarts every rule's counting.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.rules = map[string]*ruleState{}
	s.mu.Unlock()
}

// Faults returns the current fault model.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Stats returns a snapshot of the counters plus the gauges
// vector_stores_alive, files_alive, responses_alive and throttle_engaged.
func (s *Server) Stats() map[string]int64 {
	out := s.counters.Snapshot(4)
	s.mu.Lock()
	out["vector_stores_alive"] = int64(len(s.stores))
	out["files_alive"] = int64(len(s.files))
	out["responses_alive"] = int64(len(s.responses))
	if s.throttle.isEngaged(s.faults, s.clk.Now()) {
		out["throttle_engaged"] = 1
	} else {
		out["throttle_engaged"] = 0
	}
	out["throttle_engagements"] = s.throttle.engagements
	s.mu.Unlock()
	return out
}

// Start serves the fake on addr (e.g. "127.0.0.1:0") until stop is called,
// ctx ends, or the Server is closed. baseURL has no /v1 suffix: give
// baseURL+"/v1" to option.WithBaseURL or OPENAI_BASE_URL. stop waits until
// the serving goroutine has exited; calling it twice is harmless.
func (s *Server) Start(ctx context.Context, addr string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("cannot listen on %q: %w", addr, err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return "", nil, errors.New("cannot start fakeai: server is closed")
	}
	s.listeners = append(s.listeners, hs)
	s.wg.Add(1) // under s.mu with the closed check, so Close's Wait cannot race it
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer s.wg.Done()
		defer close(done)
		_ = hs.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	unwatch := context.AfterFunc(ctx, func() { _ = hs.Close() })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			unwatch()
			_ = hs.Close()
			<-done
		})
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// Close releases every stalled or waiting request, stops servers begun by
// Start, and waits for in-flight handlers to return. Later requests get 503.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed.Store(true)
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	s.cancel()
	for _, hs := range ls {
		_ = hs.Close()
	}
	s.wg.Wait()
	s.gate.CloseAndWait()
	return nil
}

// ServeHTTP routes /v1/… to the fake API and /_fault, /_stats to control.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.gate.Enter() {
		writeError(w, closedError())
		return
	}
	defer s.gate.Leave()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	unwatch := context.AfterFunc(s.ctx, cancel)
	defer unwatch()
	r = r.WithContext(ctx)

	switch r.URL.Path {
	case "/_fault":
		s.serveFault(w, r)
		return
	case "/_stats":
		writeJSON(w, http.StatusOK, s.Stats())
		return
	case "/health", "/_health":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeError(w, invalidURL(r))
		return
	}
	s.count("requests_total", 1)
	if id := traceID(r.Header); id != "" {
		start := time.Now()
		s.traces.begin(id)
		defer func() {
			end := time.Now().Add(toldToWait(w.Header()))
			if !s.traces.add(id, span{start, end}) {
				s.count("trace_spans_dropped", 1)
			}
		}()
	}
	if !s.injectFaults(ctx, w, r) {
		return
	}
	s.route(ctx, w, r)
}

// injectFaults applies 429s, 5xx bursts and stalls; false means the request
// has been dealt with (or abandoned) and must not be served.
func (s *Server) injectFaults(ctx context.Context, w http.ResponseWriter, r *http.Request) bool {
	method, p := r.Method, r.URL.Path
	s.mu.Lock()
	f := s.faults
	stall := s.take("stall", f.Stall, method, p, nil)
	if !stall {
		stall = s.take("delete_stall", f.DeleteStall, method, p, []string{"DELETE /v1/vector_stores/*", "DELETE /v1/files/*"})
	}
	limited := !stall && s.take("rate_limit", f.RateLimit, method, p, nil)
	failed := !stall && !limited && s.take("server_errors", f.ServerErrors, method, p, nil)
	s.mu.Unlock()
	switch {
	case stall:
		s.count("stalled", 1)
		// net/http notices a client hanging up (and ends ctx) only once
		// the request body has been read to EOF.
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<20))
		<-ctx.Done()
		s.count("stalls_released", 1)
		return false
	case limited:
		s.count("rate_limited", 1)
		ra := f.RateLimit.RetryAfter.D()
		if ra <= 0 {
			ra = DefaultRetryAfter
		}
		real := s.realDuration(ra)
		w.Header().Set("Retry-After", strconv.FormatFloat(real.Seconds(), 'f', -1, 64))
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(real.Milliseconds(), 10))
		writeError(w, rateLimited())
		return false
	case failed:
		s.count("server_errors", 1)
		st := f.ServerErrors.Status
		if st == 0 {
			st = DefaultErrorStatus
		}
		writeError(w, serverError(st))
		return false
	}
	return true
}

// take must be called with s.mu held.
func (s *Server) take(name string, r Rule, method, p string, defaults []string) bool {
	if !r.active() || !r.matches(method, p, defaults) {
		return false
	}
	st := s.rules[name]
	if st == nil {
		st = &ruleState{}
		s.rules[name] = st
	}
	return st.take(r)
}

// realDuration converts scenario time to wall time when the clock is scaled.
func (s *Server) realDuration(d time.Duration) time.Duration {
	if sc, ok := s.clk.(interface {
		Real(time.Duration) time.Duration
	}); ok {
		return sc.Real(d)
	}
	return d
}

// wait sleeps d of scenario time or until the request (or server) ends.
func (s *Server) wait(ctx context.Context, d time.Duration) error {
	return clock.Sleep(ctx, s.clk, d)
}

// pollAfter hints the SDK's poll helpers (openai-poll-after-ms) to come
// back when the remaining scenario time has passed, capped to 1 s real.
func (s *Server) pollAfter(w http.ResponseWriter, remaining time.Duration) {
	if remaining <= 0 {
		return
	}
	ms := min(max(s.realDuration(remaining).Milliseconds(), 1), 1000)
	w.Header().Set("openai-poll-after-ms", strconv.FormatInt(ms, 10))
}

// faultControl is the body of POST /_fault.
type faultControl struct {
	Reset bool `json:"reset"`
}

func (s *Server) serveFault(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
		return
	case http.MethodPost:
	default:
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
			Message: "use GET or POST on /_fault"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, badRequest("", "cannot read fault body: %v", err))
		return
	}
	var ctl faultControl
	if err := json.Unmarshal(body, &ctl); err != nil {
		writeError(w, invalidJSON(err))
		return
	}
	s.mu.Lock()
	f := s.faults
	if ctl.Reset {
		f = s.initial
	}
	s.mu.Unlock()
	// Decoding into the current value changes only the keys present.
	if err := fakehttp.Patch(body, &f, "reset"); err != nil {
		writeError(w, badRequest("", "cannot apply faults: %v", err))
		return
	}
	if err := f.Validate(); err != nil {
		writeError(w, badRequest("", "invalid faults: %v", err))
		return
	}
	s.mu.Lock()
	if ctl.Reset {
		s.throttle = uploadThrottle{engagements: s.throttle.engagements}
	}
	s.mu.Unlock()
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, f)
}

// nextID returns a deterministic id with the given prefix.
func (s *Server) nextID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextIDLocked(prefix)
}

func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	if s.idNS != "" {
		return fmt.Sprintf("%s%s_%012d", prefix, s.idNS, s.seq)
	}
	return fmt.Sprintf("%s%012d", prefix, s.seq)
}

// decodeJSON reads a JSON request body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		return badRequest("", "cannot read request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badRequest("", "you must provide a JSON body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidJSON(err)
	}
	return nil
}
