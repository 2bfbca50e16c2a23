package fakeai

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/provider"
)

// Upstream is what the fake spent on the requests of one traced call
// (requests that carried a W3C traceparent with its trace id).
type Upstream struct {
	Requests int
	// Busy is the union of the calls' request intervals, each from arrival
	// to the end of its handler plus any wait the answer told the client to
	// take before coming back (Retry-After-Ms, openai-poll-after-ms): time
	// the call spent on the provider, not in the server.
	Busy time.Duration
}

// maxTracedSpans bounds the intervals kept; more are counted in the stat
// "trace_spans_dropped".
const maxTracedSpans = 1 << 17

type span struct{ start, end time.Time }

// traceLog keeps request intervals by trace id, and which traces have a
// request in flight.
type traceLog struct {
	mu    sync.Mutex
	spans map[string][]span
	n     int
	open  map[string]int // requests being served
	// last is the latest end of a served request's span, kept apart from
	// spans so that it stays true once the span log is full (a stale one
	// would read as a stalled call).
	last map[string]time.Time
}

// begin notes a request of the trace arriving.
func (l *traceLog) begin(traceID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]int{}
	}
	l.open[traceID]++
}

// add records one request interval (its request no longer in flight);
// false when the log is full.
func (l *traceLog) add(traceID string, sp span) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[traceID]--; l.open[traceID] <= 0 {
		delete(l.open, traceID)
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if sp.end.After(l.last[traceID]) {
		l.last[traceID] = sp.end
	}
	if l.n >= maxTracedSpans {
		return false
	}
	if l.spans == nil {
		l.spans = map[string][]span{}
	}
	l.spans[traceID] = append(l.spans[traceID], sp)
	l.n++
	return true
}

// Upstream returns the fake's time spent on the requests of trace id
// traceID (32 lowercase hex digits) so far.
func (s *Server) Upstream(traceID string) Upstream {
	s.traces.mu.Lock()
	spans := slices.Clone(s.traces.spans[traceID])
	s.traces.mu.Unlock()
	return Upstream{Requests: len(spans), Busy: union(spans)}
}

// Activity says whether a request of trace traceID is being served now,
// and until when the last one served kept the call busy (its end plus any
// wait the answer asked for; zero when none has ended).
func (s *Server) Activity(traceID string) (inFlight bool, busyUntil time.Time) {
	s.traces.mu.Lock()
	defer s.traces.mu.Unlock()
	return s.traces.open[traceID] > 0, s.traces.last[traceID]
}

// union is the total length of the spans' union.
func union(spans []span) time.Duration {
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	var total time.Duration
	var cur span
	for i, sp := range spans {
		switch {
		case i == 0:
			cur = sp
		case !sp.start.After(cur.end):
			if sp.end.After(cur.end) {
				cur.end = sp.end
			}
		default:
			total += cur.end.Sub(cur.start)
			cur = sp
		}
	}
	if len(spans) > 0 {
		total += cur.end.Sub(cur.start)
	}
	return total
}

// traceID is the trace id of a request's W3C traceparent header, or "".
func traceID(h http.Header) string {
	return provider.TraceID(h.Get(provider.TraceParentHeader))
}

// toldToWait is how long an answer asked the client to wait before its
// next request: Retry-After-Ms, else openai-poll-after-ms (both carry
// wall-clock milliseconds here).
func toldToWait(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After-Ms", "openai-poll-after-ms"} {
		if v, err := strconv.ParseInt(h.Get(k), 10, 64); err == nil && v > 0 {
			return time.Duration(v) * time.Millisecond
		}
	}
	return 0
}
