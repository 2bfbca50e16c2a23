package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

// ErrNotServed is wrapped by every fetch the debug listener answers 404:
// the server (an older build, another implementation) does not serve that
// endpoint, so the figure is not measured rather than failed.
var ErrNotServed = errors.New("probes: endpoint not served by this debug listener")

// DefaultFetchTimeout bounds one request to the debug listener.
const DefaultFetchTimeout = 10 * time.Second

// maxDebugBody bounds a debug response read into memory (a goroutine dump
// of a wedged server can be large; a flight-recorder window too).
const maxDebugBody = 256 << 20

// DebugClient reads the server's debug listener (--debug-addr). It is safe
// for concurrent use; reuse one per server.
type DebugClient struct {
	base    string
	hc      *http.Client
	timeout time.Duration

	// traceMu orders the parsing of flight-recorder windows, so that each
	// counts only the time after the previous one's end (traceEnd): the
	// windows of two breaches a few seconds apart overlap, in one step or
	// in two, and a diagnosis sums the steps' waits.
	traceMu  sync.Mutex
	traceEnd int64
}

// NewDebugClient returns a client of the debug listener at baseURL
// ("http://127.0.0.1:PORT" or just "127.0.0.1:PORT"). A nil hc uses a
// client of its own; every request is bounded by DefaultFetchTimeout
// besides ctx.
func NewDebugClient(baseURL string, hc *http.Client) *DebugClient {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}}
	}
	return &DebugClient{base: strings.TrimRight(baseURL, "/"), hc: hc, timeout: DefaultFetchTimeout}
}

// SetFetchTimeout bounds each later request to the debug listener (besides
// its ctx); d <= 0 restores DefaultFetchTimeout. Call it before sharing the
// client between goroutines.
func (c *DebugClient) SetFetchTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultFetchTimeout
	}
	c.timeout = d
}

// Close releases the client's idle connections.
func (c *DebugClient) Close() { c.hc.CloseIdleConnections() }

func (c *DebugClient) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build debug request %q: %w", path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch %q from the debug listener: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDebugBody))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q from the debug listener: %w", path, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("cannot fetch %q from the debug listener: %w", path, ErrNotServed)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot fetch %q from the debug listener: %s: %s", path, resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	return body, nil
}

// Profile fetches a named pprof profile (goroutine, block, mutex, heap…)
// as a protobuf.
func (c *DebugClient) Profile(ctx context.Context, name string) ([]byte, error) {
	return c.get(ctx, "/debug/pprof/"+url.PathEscape(name))
}

// GoroutineText fetches the goroutine dump with wait reasons and durations
// (debug=2).
func (c *DebugClient) GoroutineText(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "/debug/pprof/goroutine?debug=2")
}

// Goroutines fetches the debug=2 text (wait reasons) and, only when the
// text carries no pprof labels (a server not run with
// GODEBUG=tracebacklabels=1), the debug=0 profile to join them from.
// Every fetch costs the server under test: the gzip-compressed profile
// was half of what a 100-file call's run allocated, and the extra garbage
// collections it caused took one of two Ps from the stdio loop.
func (c *DebugClient) Goroutines(ctx context.Context) (*GoroutineDump, error) {
	at := time.Now()
	text, err := c.GoroutineText(ctx)
	if err != nil {
		return nil, err
	}
	d, err := NewGoroutineDump(at, text, nil)
	if err != nil || hasLabels(d.Goroutines) {
		return d, err
	}
	proto, err := c.Profile(ctx, "goroutine")
	if err != nil {
		return nil, err
	}
	return NewGoroutineDump(at, text, proto)
}

func hasLabels(gs []Goroutine) bool {
	for _, g := range gs {
		if len(g.Labels) > 0 {
			return true
		}
	}
	return false
}

// Runtime reads /debug/runtime.
func (c *DebugClient) Runtime(ctx context.Context) (RuntimeStats, error) {
	at := time.Now()
	b, err := c.get(ctx, debugapi.PathRuntime)
	if err != nil {
		return RuntimeStats{}, err
	}
	return ParseRuntime(b, at)
}

// Vars reads /debug/vars raw (see [ParseVars]).
func (c *DebugClient) Vars(ctx context.Context) ([]byte, error) {
	return c.get(ctx, debugapi.PathVars)
}

// Calls reads /debug/calls.
func (c *DebugClient) Calls(ctx context.Context) (Calls, error) {
	b, err := c.get(ctx, debugapi.PathCalls)
	if err != nil {
		return Calls{}, err
	}
	return ParseCalls(b)
}

// SetProfiling sets the server's block profile rate and mutex profile
// fraction (0 turns one off). Call it before the step that should be
// profiled: the profiles only see waits that start after.
func (c *DebugClient) SetProfiling(ctx context.Context, blockRate, mutexFraction int) error {
	b, err := c.get(ctx, debugapi.PathProfiling+"?block="+strconv.Itoa(blockRate)+"&mutex="+strconv.Itoa(mutexFraction))
	if err != nil {
		return err
	}
	var st debugapi.Profiling
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("cannot decode %s: %w", debugapi.PathProfiling, err)
	}
	if st.BlockProfileRate != blockRate || st.MutexProfileFraction != mutexFraction {
		return fmt.Errorf("profiling not set: asked block %d, mutex %d; the server has %d, %d",
			blockRate, mutexFraction, st.BlockProfileRate, st.MutexProfileFraction)
	}
	return nil
}

// StartFlightRecorder asks the server to keep a runtime/trace flight
// recorder running.
func (c *DebugClient) StartFlightRecorder(ctx context.Context) error {
	_, err := c.get(ctx, debugapi.PathFlightRecorder+"?start=1")
	return err
}

// FlightRecorder fetches the current flight-recorder window (a trace file
// for `go tool trace`).
func (c *DebugClient) FlightRecorder(ctx context.Context) ([]byte, error) {
	return c.get(ctx, debugapi.PathFlightRecorder)
}

// traceWaits reads the waits of a window fetched from this server that
// no earlier window counted (see [ParseTraceWaits]).
func (c *DebugClient) traceWaits(tr []byte) ([]TraceWait, error) {
	c.traceMu.Lock()
	defer c.traceMu.Unlock()
	waits, end, err := ParseTraceWaits(tr, c.traceEnd)
	if end != 0 {
		c.traceEnd = end
	}
	return waits, err
}

// GoroutineCount reads the goroutine total from the debug=1 goroutine
// profile ("goroutine profile: total N"), for servers whose listener has
// no /debug/runtime.
func (c *DebugClient) GoroutineCount(ctx context.Context) (int64, error) {
	b, err := c.get(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	const prefix = "goroutine profile: total "
	if !strings.HasPrefix(line, prefix) {
		return 0, fmt.Errorf("cannot find the goroutine total in %q", line)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, prefix)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cannot parse the goroutine total in %q: %w", line, err)
	}
	return n, nil
}

// Settle asks the server to close its idle upstream keep-alive connections
// (POST /debug/settle) before a leak check, so pooled idle sockets are not
// counted as leaks; it returns the server's JSON report. A server without
// the endpoint answers ErrNotServed.
func (c *DebugClient) Settle(ctx context.Context) ([]byte, error) {
	return c.post(ctx, debugapi.PathSettle)
}

// StartCPU opens a CPU profile window on the server (POST
// /debug/cpuprofile?action=start); [DebugClient.StopCPU] closes it.
func (c *DebugClient) StartCPU(ctx context.Context) error {
	_, err := c.post(ctx, "/debug/cpuprofile?action=start")
	return err
}

// StopCPU closes the CPU profile window and returns the profile.
func (c *DebugClient) StopCPU(ctx context.Context) ([]byte, error) {
	return c.post(ctx, "/debug/cpuprofile?action=stop")
}

// post sends an empty POST to path and returns the body of a 200 answer;
// a 404 is ErrNotServed.
func (c *DebugClient) post(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build the debug request POST %s: %w", path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDebugBody))
	if err != nil {
		return nil, fmt.Errorf("cannot read the answer of POST %s: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("cannot POST %s: %w", path, ErrNotServed)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("cannot POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	return body, nil
}
