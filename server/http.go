package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// HTTPOptions configures the streamable HTTP transport.
type HTTPOptions struct {
	// Addr to listen on, e.g. 127.0.0.1:8765. A non-loopback address needs Token.
	Addr string
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token string
	// Path of the MCP endpoint; "" means /mcp.
	Path string
	// AllowedOrigins are browser origins allowed besides loopback ones
	// (e.g. "https://app.example"); AllowedHosts likewise for the Host header
	// when the server is reached through a name other than localhost.
	AllowedOrigins []string
	AllowedHosts   []string
	// ShutdownGrace bounds the HTTP stop: in-flight requests (tool calls,
	// SSE streams) are cancelled at once when ctx ends, then they have this
	// long to return before the connections are closed under them; 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// MaxSessions bounds the live MCP sessions (0: DefaultMaxSessions); a
	// new session past it evicts the longest idle. SessionIdleTTL ends a
	// session unused that long (0: DefaultSessionIdleTTL). A request body
	// over MaxBodyBytes (0: DefaultMaxLineBytes, the stdio line cap) is
	// refused with 413.
	MaxSessions    int
	SessionIdleTTL time.Duration
	MaxBodyBytes   int64
	// MaxInFlightCalls and MaxInFlightOther bound the requests run at once,
	// tools/call apart from the rest, as on stdio (0: DefaultMaxInFlightCalls,
	// DefaultMaxInFlightOther). Past a bound a request is refused at once:
	// 503 with Retry-After and a JSON-RPC error (-32000, "server busy"),
	// counted in [Server.TransportStats].
	MaxInFlightCalls int
	MaxInFlightOther int

	anyHost bool // non-loopback bind with a token: any Host is fine
}

// DefaultShutdownGrace is [HTTPOptions.ShutdownGrace]'s default. Hosts and
// the replay harness send SIGKILL 2 s after SIGTERM; cancelled handlers
// return in milliseconds, so this only matters for a stuck one.
const DefaultShutdownGrace = 3 * time.Second

// ErrTokenRequired: a non-loopback bind without a bearer token.
var ErrTokenRequired = errors.New("a bearer token (--http-token or SECONDBRAIN_HTTP_TOKEN) is required to listen on a non-loopback address")

// IsLoopbackAddr reports whether host:port (or a bare host) is loopback only.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// HTTPHandler returns the MCP streamable-HTTP handler wrapped in the bearer
// token and DNS-rebinding (Origin and Host) guard. Its background work
// (the idle-session sweeper) ends with [Server.Close].
func (s *Server) HTTPHandler(opt HTTPOptions) http.Handler {
	if opt.Path == "" {
		opt.Path = "/mcp"
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = DefaultMaxLineBytes
	}
	ids := newSessionIDs(opt.MaxSessions, opt.SessionIdleTTL, nil)
	mcpH := mcpserver.NewStreamableHTTPServer(s.mcp,
		mcpserver.WithEndpointPath(opt.Path),
		mcpserver.WithStreamableHTTPLogger(s.opt.Logger.With("component", "http")),
		mcpserver.WithSessionIdManager(ids),
		// mcp-go's per-session state (tools, log levels, request ids) is
		// swept on the same idle time as the ids.
		mcpserver.WithSessionIdleTTL(ids.ttl),
	)
	s.httpMu.Lock()
	s.httpServers = append(s.httpServers, mcpH)
	s.httpMu.Unlock()
	mux := http.NewServeMux()
	bound := newInFlightBound(opt.MaxInFlightCalls, opt.MaxInFlightOther, &s.httpRefused)
	mux.Handle(opt.Path, sessionChecks(ids, opt.MaxBodyBytes, bound, mcpH))
	return guard(opt, mux)
}

func guard(opt HTTPOptions, next http.Handler) http.Handler {
	origins := map[string]bool{}
	for _, o := range opt.AllowedOrigins {
		origins[strings.TrimRight(strings.ToLower(o), "/")] = true
	}
	hosts := map[string]bool{}
	for _, h := range opt.AllowedHosts {
		hosts[strings.ToLower(h)] = true
	}
	want := []byte("Bearer " + opt.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends
		// Host: evil.example and Origin: http://evil.example.
		if o := r.Header.Get("Origin"); o != "" && !originAllowed(o, origins) {
			http.Error(w, fmt.Sprintf("Forbidden: origin %q not allowed", o), http.StatusForbidden)
			return
		}
		if !opt.anyHost && !hostAllowed(r.Host, hosts) {
			http.Error(w, fmt.Sprintf("Forbidden: invalid Host header %q", r.Host), http.StatusForbidden)
			return
		}
		if opt.Token != "" {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="secondbrain"`)
				http.Error(w, "Unauthorized: missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(origin string, allowed map[string]bool) bool {
	o := strings.TrimRight(strings.ToLower(origin), "/")
	if allowed[o] {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return IsLoopbackAddr(u.Host)
}

func hostAllowed(host string, allowed map[string]bool) bool {
	if host == "" {
		return false
	}
	h := strings.ToLower(host)
	if allowed[h] {
		return true
	}
	if hn, _, err := net.SplitHostPort(h); err == nil && allowed[hn] {
		return true
	}
	return IsLoopbackAddr(h)
}

// ListenHTTP serves MCP over streamable HTTP on opt.Addr until ctx ends. Then
// it cancels every in-flight request at once — a tool call stops and cancels
// its background response at the provider, an SSE stream ends — stops
// accepting, and waits up to ShutdownGrace for the handlers to return; past
// that it closes the connections and returns an error naming how many
// handlers are still running. It never waits longer than ShutdownGrace plus
// a little, so a signal always ends it.
//
// Why not let in-flight calls finish first (http.Server.Shutdown alone): a
// model call runs for minutes, Shutdown does not cancel handler contexts,
// and a standalone SSE GET never ends, so Shutdown would wait its whole
// grace every time, the host would SIGKILL us, and the background
// response would run on, billed, at the provider. The stdio path stops the
// same way.
//
// ready (may be nil) receives the bound address (useful with port 0).
func (s *Server) ListenHTTP(ctx context.Context, opt HTTPOptions, ready func(addr string)) error {
	if !IsLoopbackAddr(opt.Addr) && opt.Token == "" {
		return fmt.Errorf("cannot listen on %q: %w", opt.Addr, ErrTokenRequired)
	}
	if opt.ShutdownGrace <= 0 {
		opt.ShutdownGrace = DefaultShutdownGrace
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", opt.Addr, err)
	}
	// Reached by other names on a non-loopback bind: any Host, the token protects it.
	opt.anyHost = !IsLoopbackAddr(opt.Addr)
	baseCtx, cancelRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRequests(errShutdown)
	// handlers counts running handlers: http.Server.Close does not wait for
	// them, and the caller must not close what they use (provider clients,
	// sessions) while they run.
	handlers := &handlerCount{zero: make(chan struct{})}
	h := s.HTTPHandler(opt)
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !handlers.enter() {
				http.Error(w, "Service Unavailable: shutting down", http.StatusServiceUnavailable)
				return
			}
			defer handlers.leave()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve HTTP on %q: %w", opt.Addr, err)
	case <-ctx.Done():
	}
	log := s.opt.Logger.With("component", "http")
	t0 := time.Now()
	inflight := s.calls.Snapshot().InFlight
	idle := handlers.stop()
	cancelRequests(errShutdown)
	sctx, cancel := context.WithTimeout(context.Background(), opt.ShutdownGrace)
	defer cancel()
	var stopErr error
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		stopErr = fmt.Errorf("cannot stop HTTP on %q within %v: %w", opt.Addr, opt.ShutdownGrace, err)
	}
	<-errc // Serve returns as soon as Shutdown starts
	// Handlers whose connection Close cut: they saw their context end long
	// ago, so a short extra wait is enough unless one is truly stuck.
	select {
	case <-idle:
	case <-time.After(handlerAbandonWait):
		stopErr = errors.Join(stopErr, fmt.Errorf("%d HTTP handlers still running after shutdown; abandoned", handlers.running()))
	}
	log.Info("HTTP transport stopped", "cancelled_calls", len(inflight), "took", time.Since(t0), "err", stopErr)
	return stopErr
}

// handlerAbandonWait is how long ListenHTTP waits, after closing the
// connections, for handlers that outlived ShutdownGrace.
const handlerAbandonWait = 500 * time.Millisecond

// handlerCount counts running HTTP handlers; once stopped it refuses new
// ones and closes zero when the last one leaves. It takes no lock: every
// request passes through it, and with a mutex here a server that fell
// behind (a race-instrumented build uploading a project while the
// harness's heartbeat kept arriving) queued 517 handlers on that one
// mutex — a convoy where each hand-off waited for its goroutine to be
// scheduled and pings took 7 s.
type handlerCount struct {
	state atomic.Int64 // running handlers, plus stopBit once stopping
	once  sync.Once
	zero  chan struct{}
}

const stopBit = int64(1) << 62

func (c *handlerCount) enter() bool {
	for {
		s := c.state.Load()
		if s&stopBit != 0 {
			return false
		}
		if c.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (c *handlerCount) leave() {
	if c.state.Add(-1) == stopBit {
		c.once.Do(func() { close(c.zero) })
	}
}

// stop refuses new handlers and returns a channel closed once none runs.
func (c *handlerCount) stop() <-chan struct{} {
	if c.state.Or(stopBit)&^stopBit == 0 {
		c.once.Do(func() { close(c.zero) })
	}
	return c.zero
}

func (c *handlerCount) running() int {
	return int(c.state.Load() &^ stopBit)
}
