package probes

// This file holds every decoding of the server's debug-listener JSON
// (/debug/runtime, /debug/vars, /debug/calls). The decoders are tolerant:
// they accept several spellings of a field, ignore unknown fields, and
// report a missing value as unknown (-1) rather than failing, so the
// harness keeps working while the server's documents grow.

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RuntimeStats is one read of /debug/runtime.
type RuntimeStats struct {
	At         time.Time
	Goroutines int64 // -1 when unknown
	OpenFDs    int64 // -1 when unknown
	RSSBytes   int64 // -1 when unknown
	// SchedLatency is the cumulative /sched/latencies:seconds histogram;
	// subtract an earlier read ([Hist.Sub]) for a window.
	SchedLatency Hist
}

// Hist is a cumulative histogram of durations as non-empty buckets.
type Hist struct {
	Buckets []HistBucket // ascending Le
}

// HistBucket counts the values <= Le (and above the previous bucket).
type HistBucket struct {
	Le    float64 // seconds
	Count uint64
}

// Total returns the number of values.
func (h Hist) Total() uint64 {
	var n uint64
	for _, b := range h.Buckets {
		n += b.Count
	}
	return n
}

// Sub returns h − prev bucket by bucket (what was recorded between the two
// reads). Buckets that went down (a restarted server) count 0.
func (h Hist) Sub(prev Hist) Hist {
	old := map[float64]uint64{}
	for _, b := range prev.Buckets {
		old[b.Le] = b.Count
	}
	var out Hist
	for _, b := range h.Buckets {
		if b.Count > old[b.Le] {
			out.Buckets = append(out.Buckets, HistBucket{Le: b.Le, Count: b.Count - old[b.Le]})
		}
	}
	return out
}

// Quantile returns the upper bound of the bucket holding quantile q (0–1),
// or 0 for an empty histogram.
func (h Hist) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(float64(total) * q))
	rank = max(rank, 1)
	var cum uint64
	for _, b := range h.Buckets {
		cum += b.Count
		if cum >= rank {
			return secondsToDuration(b.Le)
		}
	}
	return secondsToDuration(h.Buckets[len(h.Buckets)-1].Le)
}

// Max returns the upper bound of the highest non-empty bucket.
func (h Hist) Max() time.Duration {
	if len(h.Buckets) == 0 {
		return 0
	}
	return secondsToDuration(h.Buckets[len(h.Buckets)-1].Le)
}

func secondsToDuration(s float64) time.Duration {
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

// ParseRuntime decodes /debug/runtime. It accepts the keys the server
// writes (goroutines, open_fds, rss_bytes, sched_latencies_seconds as
// {buckets:[{le,count}]}) and the raw runtime/metrics names and shapes
// ({counts:[…], buckets:[boundaries…]}).
func ParseRuntime(data []byte, at time.Time) (RuntimeStats, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return RuntimeStats{}, fmt.Errorf("cannot decode /debug/runtime: %w", err)
	}
	rs := RuntimeStats{
		At:         at,
		Goroutines: intField(m, "goroutines", "/sched/goroutines:goroutines", "num_goroutine", "NumGoroutine"),
		OpenFDs:    intField(m, "open_fds", "fds", "num_fds"),
		RSSBytes:   intField(m, "rss_bytes", "rss"),
	}
	for _, k := range []string{"sched_latencies_seconds", "sched_latencies", "/sched/latencies:seconds"} {
		if raw, ok := m[k]; ok {
			h, err := parseHist(raw)
			if err != nil {
				return rs, fmt.Errorf("cannot decode %s of /debug/runtime: %w", k, err)
			}
			rs.SchedLatency = h
			break
		}
	}
	return rs, nil
}

func intField(m map[string]json.RawMessage, keys ...string) int64 {
	for _, k := range keys {
		if raw, ok := m[k]; ok {
			if v, ok := jsonNumber(raw); ok {
				return int64(v)
			}
		}
	}
	return -1
}

func jsonNumber(raw json.RawMessage) (float64, bool) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "+inf", "inf":
			return math.Inf(1), true
		case "-inf":
			return math.Inf(-1), true
		}
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v, true
		}
	}
	return 0, false
}

func parseHist(raw json.RawMessage) (Hist, error) {
	var obj struct {
		Buckets []json.RawMessage `json:"buckets"`
		Counts  []uint64          `json:"counts"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Hist{}, err
	}
	var h Hist
	if len(obj.Counts) > 0 {
		// runtime/metrics shape: bucket i spans [Buckets[i], Buckets[i+1]).
		bounds := make([]float64, len(obj.Buckets))
		for i, b := range obj.Buckets {
			v, ok := jsonNumber(b)
			if !ok {
				v = math.Inf(1) // null: an unencodable ±Inf
				if i == 0 {
					v = math.Inf(-1)
				}
			}
			bounds[i] = v
		}
		for i, c := range obj.Counts {
			if c == 0 || i+1 >= len(bounds) {
				continue
			}
			le := bounds[i+1]
			if math.IsInf(le, 1) {
				le = bounds[i]
			}
			h.Buckets = append(h.Buckets, HistBucket{Le: le, Count: c})
		}
		return h, nil
	}
	for _, b := range obj.Buckets {
		var hb struct {
			Le    json.RawMessage `json:"le"`
			Count uint64          `json:"count"`
		}
		if err := json.Unmarshal(b, &hb); err != nil {
			return Hist{}, err
		}
		le, ok := jsonNumber(hb.Le)
		if !ok {
			continue
		}
		h.Buckets = append(h.Buckets, HistBucket{Le: le, Count: hb.Count})
	}
	sort.Slice(h.Buckets, func(i, j int) bool { return h.Buckets[i].Le < h.Buckets[j].Le })
	return h, nil
}

// LogCounters are one log sink's counters from /debug/vars.
type LogCounters struct {
	Emitted   int64
	Delivered int64
	Dropped   map[string]int64 // by reason
	Pending   int64
}

// DroppedTotal sums Dropped.
func (c LogCounters) DroppedTotal() int64 {
	var n int64
	for _, v := range c.Dropped {
		n += v
	}
	return n
}

// FindLogCounters walks a /debug/vars document and returns every object
// that looks like a log sink's counters (numeric "emitted" and "delivered"),
// keyed by its dotted path ("logs.victorialogs", "logs.stderr"…). The
// "dropped" field may be a number or an object of counts by reason.
func FindLogCounters(data []byte) (map[string]LogCounters, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("cannot decode /debug/vars: %w", err)
	}
	out := map[string]LogCounters{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		em, ok1 := obj["emitted"].(float64)
		de, ok2 := obj["delivered"].(float64)
		if ok1 && ok2 {
			c := LogCounters{Emitted: int64(em), Delivered: int64(de), Dropped: map[string]int64{}}
			switch d := obj["dropped"].(type) {
			case float64:
				c.Dropped["total"] = int64(d)
			case map[string]any:
				for k, n := range d {
					if f, ok := n.(float64); ok {
						c.Dropped[k] = int64(f)
					}
				}
			default:
				if f, ok := obj["dropped_total"].(float64); ok {
					c.Dropped["total"] = int64(f)
				}
			}
			if p, ok := obj["pending"].(float64); ok {
				c.Pending = int64(p)
			}
			out[path] = c
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, obj[k])
		}
	}
	walk("", v)
	return out, nil
}

// CallInfo is one tool call from /debug/calls (server.CallInfo).
type CallInfo struct {
	Seq                uint64     `json:"seq"`
	Transport          string     `json:"transport"` // stdio | http
	RequestID          string     `json:"request_id"`
	Tool               string     `json:"tool"`
	Start              time.Time  `json:"start"`
	DurationMS         float64    `json:"duration_ms"`
	Outcome            string     `json:"outcome"` // "" while in flight
	CancelReceivedAt   *time.Time `json:"cancel_received_at"`
	HandlerReturnedAt  *time.Time `json:"handler_returned_at"`
	CancelToReturnMS   *float64   `json:"cancel_to_return_ms"`
	ResponseSuppressed bool       `json:"response_suppressed"`
}

// Calls is /debug/calls (server.CallsSnapshot): calls in flight and
// recently finished (newest first), and the server's counters.
type Calls struct {
	Now      time.Time  `json:"now"` // the server's clock when it answered
	InFlight []CallInfo `json:"in_flight"`
	Recent   []CallInfo `json:"recent"`
	Started  uint64     `json:"started"` // tool calls started since the server began
	// SuppressedResponses counts responses the server did not write
	// because the client had cancelled the request.
	SuppressedResponses uint64 `json:"suppressed_responses"`
}

// ParseCalls decodes /debug/calls.
func ParseCalls(data []byte) (Calls, error) {
	var c Calls
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("cannot decode /debug/calls: %w", err)
	}
	return c, nil
}

// CancelToReturn returns the cancel→handler-return latencies of the
// finished calls that were cancelled, and the calls cancelled but still
// running (their handler never returned: report them as at least their
// age, measured to the server's own Now when it sent one, else to now).
func (c Calls) CancelToReturn(now time.Time) (done []time.Duration, stuck []time.Duration) {
	if !c.Now.IsZero() {
		now = c.Now
	}
	for _, ci := range c.Recent {
		if ci.CancelToReturnMS != nil {
			done = append(done, time.Duration(*ci.CancelToReturnMS*float64(time.Millisecond)))
		} else if ci.CancelReceivedAt != nil && ci.HandlerReturnedAt != nil {
			done = append(done, ci.HandlerReturnedAt.Sub(*ci.CancelReceivedAt))
		}
	}
	for _, ci := range c.InFlight {
		if ci.CancelReceivedAt != nil {
			stuck = append(stuck, now.Sub(*ci.CancelReceivedAt))
		}
	}
	return done, stuck
}

// ResponsesAfterCancel counts finished stdio calls whose cancel reached
// the server but whose response was still written (not marked
// response_suppressed): the MCP spec says a cancelled request gets no
// answer. Over HTTP the cancel aborts the request itself, so no response
// can reach the client and those calls are not counted. It returns
// whether any cancelled stdio call was seen at all.
func (c Calls) ResponsesAfterCancel() (n int64, cancelled int) {
	for _, ci := range c.Recent {
		if ci.CancelReceivedAt == nil || ci.Transport != "stdio" {
			continue
		}
		cancelled++
		if !ci.ResponseSuppressed {
			n++
		}
	}
	return n, cancelled
}
