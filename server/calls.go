package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
	"github.com/secondbrain-dev/secondbrain/server/provider"
)

// Outcomes of a tool call, as recorded by [Calls] and its metrics.
const (
	OutcomeOK        = "ok"        // the tool returned a result
	OutcomeError     = "error"     // the tool returned an error result (bad input, provider error)
	OutcomeTimeout   = "timeout"   // the tool's own deadline expired
	OutcomeCancelled = "cancelled" // the client cancelled (notifications/cancelled or aborted HTTP request)
	OutcomeShutdown  = "shutdown"  // the server stopped while the call ran
)

// DefaultRecentCalls is how many finished calls [Calls] remembers.
const DefaultRecentCalls = 200

// CallInfo describes one tool call for /debug/calls (the contract's
// document).
type CallInfo = debugapi.Call

// CallsSnapshot is the JSON document served by [Calls.ServeHTTP].
type CallsSnapshot = debugapi.Calls

// Calls tracks tool calls in flight and the last finished ones, and exports
// Prometheus metrics about them. It is an http.Handler for /debug/calls (the
// debug listener mounts it). Safe for concurrent use. Create it with [NewCalls].
type Calls struct {
	recentMax int

	mu         sync.Mutex
	seq        uint64
	inflight   map[uint64]*callRecord
	recent     []CallInfo // ring, oldest overwritten
	recentNext int
	suppressed uint64

	latency     *prometheus.HistogramVec
	inflightG   prometheus.Gauge
	suppressedC prometheus.Counter
	cancelLat   prometheus.Histogram
}

type callRecord struct {
	info   CallInfo
	cancel time.Time // zero until a cancel is seen
}

// NewCalls returns a tracker remembering recent finished calls (<= 0 means
// [DefaultRecentCalls]) and registers its collectors on reg (nil: not registered).
func NewCalls(recent int, reg prometheus.Registerer) (*Calls, error) {
	if recent <= 0 {
		recent = DefaultRecentCalls
	}
	c := &Calls{
		recentMax: recent,
		inflight:  make(map[uint64]*callRecord),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "secondbrain_tool_call_duration_seconds",
			Help:    "Tool call latency by tool and outcome (ok, error, timeout, cancelled, shutdown).",
			Buckets: []float64{.001, .005, .02, .1, .5, 1, 5, 15, 60, 300, 900, 1800, 3600},
		}, []string{"tool", "outcome"}),
		inflightG: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "secondbrain_tool_calls_in_flight",
			Help: "Tool calls currently running.",
		}),
		suppressedC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secondbrain_cancelled_responses_suppressed_total",
			Help: "Responses not written because the client had cancelled the request.",
		}),
		cancelLat: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "secondbrain_cancel_to_return_seconds",
			Help:    "Time from a call's cancel reaching the server to its handler returning.",
			Buckets: []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{c.latency, c.inflightG, c.suppressedC, c.cancelLat} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("cannot register call metrics: %w", err)
			}
		}
	}
	return c, nil
}

type callCtxKey struct{}

// callMeta is what a transport knows about a call before the tool runs.
type callMeta struct {
	transport string
	requestID string
	// cancelAt, when set by the transport, holds the UnixNano time the
	// client's cancel was read (more exact than when the context ended).
	cancelAt *atomic.Int64
}

func withCallMeta(ctx context.Context, m callMeta) context.Context {
	return context.WithValue(ctx, callCtxKey{}, m)
}

// start records a call and returns its sequence number.
func (c *Calls) start(ctx context.Context, tool string) uint64 {
	meta, _ := ctx.Value(callCtxKey{}).(callMeta)
	if meta.transport == "" {
		meta.transport = "http"
	}
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.inflight[seq] = &callRecord{info: CallInfo{
		Seq: seq, Transport: meta.transport, RequestID: meta.requestID, Tool: tool, Start: time.Now(),
	}}
	c.mu.Unlock()
	c.inflightG.Inc()
	return seq
}

// cancelled notes when the call's context was cancelled (first time only).
func (c *Calls) cancelled(seq uint64, at time.Time) {
	c.mu.Lock()
	if r, ok := c.inflight[seq]; ok && r.cancel.IsZero() {
		r.cancel = at
	}
	c.mu.Unlock()
}

// finish moves a call to the recent list.
func (c *Calls) finish(seq uint64, outcome string) {
	now := time.Now()
	c.mu.Lock()
	r, ok := c.inflight[seq]
	if !ok {
		c.mu.Unlock()
		return
	}
	delete(c.inflight, seq)
	info := r.info
	info.Outcome = outcome
	info.DurationMS = msSince(info.Start, now)
	info.HandlerReturnedAt = &now
	var cancelLat float64 = -1
	if !r.cancel.IsZero() {
		at := r.cancel
		info.CancelReceivedAt = &at
		ms := float64(now.Sub(at)) / float64(time.Millisecond)
		info.CancelToReturnMS = &ms
		cancelLat = now.Sub(at).Seconds()
	}
	c.pushRecent(info)
	c.mu.Unlock()
	c.inflightG.Dec()
	c.latency.WithLabelValues(info.Tool, outcome).Observe(now.Sub(info.Start).Seconds())
	if cancelLat >= 0 {
		c.cancelLat.Observe(cancelLat)
	}
}

func (c *Calls) pushRecent(info CallInfo) {
	if len(c.recent) < c.recentMax {
		c.recent = append(c.recent, info)
		return
	}
	c.recent[c.recentNext] = info
	c.recentNext = (c.recentNext + 1) % c.recentMax
}

// suppressedResponse counts a response not written for a cancelled request
// and marks the matching recent call, if any.
func (c *Calls) suppressedResponse(requestID string) {
	c.mu.Lock()
	c.suppressed++
	for i := range c.recent {
		if c.recent[i].RequestID == requestID && c.recent[i].Transport == "stdio" {
			c.recent[i].ResponseSuppressed = true
		}
	}
	c.mu.Unlock()
	c.suppressedC.Inc()
}

// Snapshot returns the calls in flight (oldest first) and the recent ones (newest first).
func (c *Calls) Snapshot() CallsSnapshot {
	now := time.Now()
	c.mu.Lock()
	s := CallsSnapshot{Now: now, Started: c.seq, SuppressedResponses: c.suppressed}
	for _, r := range c.inflight {
		info := r.info
		info.DurationMS = msSince(info.Start, now)
		if !r.cancel.IsZero() {
			at := r.cancel
			info.CancelReceivedAt = &at
		}
		s.InFlight = append(s.InFlight, info)
	}
	s.Recent = append(s.Recent, c.recent...)
	c.mu.Unlock()
	sort.Slice(s.InFlight, func(i, j int) bool { return s.InFlight[i].Seq < s.InFlight[j].Seq })
	sort.Slice(s.Recent, func(i, j int) bool { return s.Recent[i].Seq > s.Recent[j].Seq })
	if s.InFlight == nil {
		s.InFlight = []CallInfo{}
	}
	if s.Recent == nil {
		s.Recent = []CallInfo{}
	}
	return s
}

// ServeHTTP serves [Calls.Snapshot] as JSON. Query ?limit=N trims the recent list.
func (c *Calls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := c.Snapshot()
	if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l >= 0 && l < len(s.Recent) {
		s.Recent = s.Recent[:l]
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s) // the client went away; nothing to do
}

// Middleware returns an mcp-go tool middleware that records every tool call.
func (c *Calls) Middleware() mcpserver.ToolHandlerMiddleware {
	return func(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			seq := c.start(ctx, req.Params.Name)
			box := &outcomeBox{}
			ctx = context.WithValue(ctx, outcomeCtxKey{}, box)
			var endedAt atomic.Int64
			fired := make(chan struct{})
			stop := context.AfterFunc(ctx, func() {
				defer close(fired)
				endedAt.Store(time.Now().UnixNano())
			})
			// pprof labels tell request-path goroutines from background ones
			// in goroutine and CPU profiles, and a traced call's goroutines
			// by its W3C trace id (the id a tracing backend shows for it).
			var res *mcp.CallToolResult
			var err error
			pprof.Do(ctx, requestLabels(ctx, req.Params.Name), func(ctx context.Context) {
				res, err = next(ctx, req)
			})
			if !stop() {
				<-fired // the context ended: wait until its time is recorded
			}
			if ctx.Err() != nil && context.Cause(ctx) != errShutdown {
				at := endedAt.Load()
				if meta, ok := ctx.Value(callCtxKey{}).(callMeta); ok && meta.cancelAt != nil && meta.cancelAt.Load() != 0 {
					at = meta.cancelAt.Load()
				}
				if at != 0 {
					c.cancelled(seq, time.Unix(0, at))
				}
			}
			c.finish(seq, classify(ctx, box, res, err))
			return res, err
		}
	}
}

type outcomeCtxKey struct{}

// outcomeBox lets a tool handler tell the middleware a more precise outcome
// than the result shows (a timeout is an error result to the client).
type outcomeBox struct {
	mu      sync.Mutex
	outcome string
}

// setOutcome overrides the recorded outcome of the call running in ctx.
func setOutcome(ctx context.Context, outcome string) {
	if b, ok := ctx.Value(outcomeCtxKey{}).(*outcomeBox); ok {
		b.mu.Lock()
		b.outcome = outcome
		b.mu.Unlock()
	}
}

func classify(ctx context.Context, box *outcomeBox, res *mcp.CallToolResult, err error) string {
	box.mu.Lock()
	override := box.outcome
	box.mu.Unlock()
	switch {
	case override != "":
		return override
	case context.Cause(ctx) == errShutdown:
		return OutcomeShutdown
	case ctx.Err() != nil:
		return OutcomeCancelled
	case err != nil, res != nil && res.IsError:
		return OutcomeError
	}
	return OutcomeOK
}

func msSince(start, now time.Time) float64 {
	return float64(now.Sub(start)) / float64(time.Millisecond)
}

// requestLabels are the pprof labels of a tool call's goroutines: path
// "request", the tool, and "trace" (32 hex digits) when the call carries a
// valid W3C traceparent.
func requestLabels(ctx context.Context, tool string) pprof.LabelSet {
	if id := provider.TraceID(provider.TraceParent(ctx)); id != "" {
		return pprof.Labels("path", "request", "tool", tool, "trace", id)
	}
	return pprof.Labels("path", "request", "tool", tool)
}
