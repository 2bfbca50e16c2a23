package debug

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/trace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

var errCPUWindowOpen = errors.New("a CPU profile window is already open")

// ErrNotLoopback is returned by [Start] for an address that is not
// loopback: the debug port exposes profiles and internals and must never be
// reachable from another host.
var ErrNotLoopback = errors.New("debug: address is not loopback")

// Options configures [Start]. Only Addr is required.
type Options struct {
	// Addr is host:port on a loopback interface: "127.0.0.1:0" (any free
	// port), "[::1]:6060", "localhost:0". Anything else is refused.
	Addr string
	// AddrFile, if set, receives the bound address (host:port and a
	// newline), written atomically (temp file + rename) once the listener
	// is up. Stop removes it.
	AddrFile string
	// Gatherer is served on /metrics. nil means a registry of its own with
	// the Go and process collectors (see [NewRegistry]).
	Gatherer prometheus.Gatherer
	// Vars is served as JSON on /debug/vars; nil serves {}.
	Vars func() any
	// Handlers are extra endpoints by path (e.g. "/debug/calls"). A path
	// that collides with a built-in one makes Start fail.
	Handlers map[string]http.Handler
	// BlockProfileRate > 0 calls runtime.SetBlockProfileRate at Start;
	// MutexProfileFraction > 0 calls runtime.SetMutexProfileFraction. Both
	// can also be changed later through /debug/profiling.
	BlockProfileRate     int
	MutexProfileFraction int
	// FlightRecorder starts the runtime/trace flight recorder at Start.
	FlightRecorder       bool
	FlightRecorderConfig trace.FlightRecorderConfig
	// Logger receives the server's own errors; nil discards them.
	Logger *slog.Logger
	// Redact, if set, is applied to every argument /debug/pprof/cmdline
	// serves, after the values of credential flags (--http-token and any
	// flag named with token, key, secret or password) are hidden.
	Redact func(string) string
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors registered; the server adds its own metrics to it and passes
// it as Options.Gatherer.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Listener is a running debug server. Its methods are safe for concurrent
// use.
type Listener struct {
	o    Options
	addr string
	srv  *http.Server
	done chan struct{} // closed when Serve has returned

	profMu        sync.Mutex // guards the two fields below; never held during I/O
	blockRate     int        // last rate this listener set (the runtime cannot report it)
	profilingUsed bool       // this listener changed a rate: Stop turns both off

	cpuMu sync.Mutex // guards cpu; the profile goes to memory, never to the network under it
	cpu   *cpuWindow

	frMu   sync.Mutex // guards fr; held only to start/stop/swap, never during WriteTo
	fr     *trace.FlightRecorder
	frBusy atomic.Bool // a window is being written

	stopOnce sync.Once
	stopErr  error
}

// Start checks that o.Addr is loopback, binds it, writes o.AddrFile, applies
// the profiling options and starts serving. ctx bounds only the bind.
func Start(ctx context.Context, o Options) (*Listener, error) {
	if err := checkLoopback(o.Addr); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Gatherer == nil {
		o.Gatherer = NewRegistry()
	}
	l := &Listener{o: o, done: make(chan struct{})}
	mux, err := l.routes()
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on debug address %q: %w", o.Addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("cannot serve debug endpoints on %s: %w", ln.Addr(), ErrNotLoopback)
	}
	l.addr = ln.Addr().String()
	if o.AddrFile != "" {
		if err := writeFileAtomic(o.AddrFile, []byte(l.addr+"\n")); err != nil {
			ln.Close()
			return nil, err
		}
	}
	if o.BlockProfileRate > 0 || o.MutexProfileFraction > 0 {
		l.setProfiling(o.BlockProfileRate, o.MutexProfileFraction)
	}
	if o.FlightRecorder {
		if err := l.startFlightRecorder(); err != nil {
			ln.Close()
			l.resetProfiling()
			return nil, err
		}
	}
	l.srv = &http.Server{
		Handler:           loopbackOnly(mux),
		ReadHeaderTimeout: 5 * time.Second,
		// No WriteTimeout: /debug/pprof/profile and /trace stream for as
		// many seconds as asked.
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("debug listener stopped", "addr", l.addr, "err", err)
		}
	}()
	return l, nil
}

// Addr returns the bound address, e.g. "127.0.0.1:41237".
func (l *Listener) Addr() string { return l.addr }

// URL returns "http://" + Addr().
func (l *Listener) URL() string { return "http://" + l.addr }

// Stop shuts the server down like http.Server.Shutdown (closing at once
// when ctx ends), waits for its goroutine, stops the flight recorder,
// turns profiling off if this listener turned it on, and removes AddrFile.
// It is idempotent.
func (l *Listener) Stop(ctx context.Context) error {
	l.stopOnce.Do(func() {
		err := l.srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(fmt.Errorf("cannot shut down debug listener %s gracefully: %w", l.addr, err), l.srv.Close())
		}
		<-l.done
		l.stopCPUWindow()
		l.stopFlightRecorder()
		l.resetProfiling()
		if l.o.AddrFile != "" {
			if rmErr := os.Remove(l.o.AddrFile); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("cannot remove debug address file: %w", rmErr))
			}
		}
		l.stopErr = err
	})
	return l.stopErr
}

func (l *Listener) routes() (*http.ServeMux, error) {
	mux := http.NewServeMux()
	builtin := map[string]http.Handler{
		"/debug/pprof/":             http.HandlerFunc(pprof.Index), // named profiles too: goroutine, heap, block, mutex, …
		"/debug/pprof/cmdline":      http.HandlerFunc(l.serveCmdline),
		"/debug/pprof/profile":      http.HandlerFunc(pprof.Profile),
		"/debug/pprof/symbol":       http.HandlerFunc(pprof.Symbol),
		"/debug/pprof/trace":        http.HandlerFunc(pprof.Trace),
		"/metrics":                  promhttp.HandlerFor(l.o.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(l.o.Logger.Handler(), slog.LevelWarn)}),
		debugapi.PathVars:           http.HandlerFunc(l.serveVars),
		debugapi.PathRuntime:        http.HandlerFunc(serveRuntime),
		debugapi.PathProfiling:      http.HandlerFunc(l.serveProfiling),
		debugapi.PathFlightRecorder: http.HandlerFunc(l.serveFlightRecorder),
		"/debug/cpuprofile":         http.HandlerFunc(l.serveCPUProfile),
	}
	for p, h := range builtin {
		mux.Handle(p, h)
	}
	for p, h := range l.o.Handlers {
		if _, clash := builtin[p]; clash || strings.HasPrefix(p, "/debug/pprof/") {
			return nil, fmt.Errorf("cannot add debug handler %q: the path is built in", p)
		}
		mux.Handle(p, h)
	}
	return mux, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("cannot parse debug address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("cannot use debug address %q: %w (use 127.0.0.1:PORT or [::1]:PORT)", addr, ErrNotLoopback)
}

// writeFileAtomic writes b to path through a temp file in the same
// directory and a rename, so a reader never sees a half-written address.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot create temp file for %q: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot write debug address file %q: %w", path, werr)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func (l *Listener) serveVars(w http.ResponseWriter, _ *http.Request) {
	if l.o.Vars == nil {
		writeJSON(w, map[string]any{})
		return
	}
	writeJSON(w, l.o.Vars())
}
