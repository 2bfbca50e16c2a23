package probes

// This file decodes the server's debug-listener documents
// (/debug/runtime, /debug/vars, /debug/calls) — the contract's types,
// package debugapi, spelled once for both sides — into what the probes
// measure.

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
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

// ParseRuntime decodes /debug/runtime ([debugapi.Runtime]).
func ParseRuntime(data []byte, at time.Time) (RuntimeStats, error) {
	var rt debugapi.Runtime
	if err := json.Unmarshal(data, &rt); err != nil {
		return RuntimeStats{}, fmt.Errorf("cannot decode /debug/runtime: %w", err)
	}
	rs := RuntimeStats{At: at, Goroutines: rt.Goroutines, OpenFDs: rt.OpenFDs, RSSBytes: rt.RSSBytes}
	for _, b := range rt.SchedLatencies.Buckets {
		rs.SchedLatency.Buckets = append(rs.SchedLatency.Buckets, HistBucket{Le: b.Le, Count: b.Count})
	}
	sort.Slice(rs.SchedLatency.Buckets, func(i, j int) bool { return rs.SchedLatency.Buckets[i].Le < rs.SchedLatency.Buckets[j].Le })
	return rs, nil
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

// ParseVars decodes /debug/vars ([debugapi.Vars]).
func ParseVars(data []byte) (debugapi.Vars, error) {
	var v debugapi.Vars
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("cannot decode /debug/vars: %w", err)
	}
	return v, nil
}

// LogCountersOf is the accounting of one log sink of /debug/vars.
func LogCountersOf(s debugapi.SinkStats) LogCounters {
	c := LogCounters{Emitted: s.Emitted, Delivered: s.Delivered, Pending: s.Pending, Dropped: map[string]int64{}}
	for k, n := range s.Dropped {
		c.Dropped[k] = n
	}
	if len(c.Dropped) == 0 && s.DroppedTotal > 0 {
		c.Dropped["total"] = s.DroppedTotal
	}
	return c
}

// CallInfo is one tool call of /debug/calls.
type CallInfo = debugapi.Call

// Calls is /debug/calls ([debugapi.Calls]) with what the probes read
// from it.
type Calls struct{ debugapi.Calls }

// ParseCalls decodes /debug/calls.
func ParseCalls(data []byte) (Calls, error) {
	var c Calls
	if err := json.Unmarshal(data, &c.Calls); err != nil {
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
