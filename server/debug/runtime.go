package debug

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// runtimeMetrics are the runtime/metrics samples /debug/runtime reports,
// by the JSON key they appear under. Names missing from this Go version are
// skipped (the /sched/goroutines/* states are new in Go 1.26).
var runtimeMetrics = map[string]string{
	"goroutines":                "/sched/goroutines:goroutines",
	"goroutines_running":        "/sched/goroutines/running:goroutines",
	"goroutines_runnable":       "/sched/goroutines/runnable:goroutines",
	"goroutines_waiting":        "/sched/goroutines/waiting:goroutines",
	"goroutines_not_in_go":      "/sched/goroutines/not-in-go:goroutines",
	"gomaxprocs":                "/sched/gomaxprocs:threads",
	"heap_objects_bytes":        "/memory/classes/heap/objects:bytes",
	"heap_goal_bytes":           "/gc/heap/goal:bytes",
	"memory_total_bytes":        "/memory/classes/total:bytes",
	"gc_cycles":                 "/gc/cycles/total:gc-cycles",
	"mutex_wait_total_seconds":  "/sync/mutex/wait/total:seconds",
	"sched_latencies_seconds":   "/sched/latencies:seconds",
	"gc_pauses_seconds":         "/sched/pauses/total/gc:seconds",
	"heap_allocs_objects_total": "/gc/heap/allocs:objects",
}

// histogramSummary is a runtime/metrics histogram as JSON: quantiles from
// bucket upper bounds, and the non-empty buckets themselves.
type histogramSummary struct {
	Count   uint64   `json:"count"`
	P50     float64  `json:"p50"`
	P99     float64  `json:"p99"`
	Max     float64  `json:"max"`
	Buckets []bucket `json:"buckets"`
}

type bucket struct {
	Le    float64 `json:"le"` // upper bound; the +Inf bucket reports its lower bound
	Count uint64  `json:"count"`
}

// readRuntime samples runtime/metrics and /proc. Cumulative histograms
// (scheduling latency) cover the whole process life: diff two reads for a
// window.
func readRuntime() map[string]any {
	known := map[string]bool{}
	for _, d := range metrics.All() {
		known[d.Name] = true
	}
	var samples []metrics.Sample
	keys := map[string]string{}
	for key, name := range runtimeMetrics {
		if known[name] {
			samples = append(samples, metrics.Sample{Name: name})
			keys[name] = key
		}
	}
	metrics.Read(samples)
	out := map[string]any{}
	for _, s := range samples {
		key := keys[s.Name]
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[key] = s.Value.Uint64()
		case metrics.KindFloat64:
			out[key] = s.Value.Float64()
		case metrics.KindFloat64Histogram:
			out[key] = summarise(s.Value.Float64Histogram())
		}
	}
	if n, err := openFDs(); err == nil {
		out["open_fds"] = n
	}
	if rss, err := rssBytes(); err == nil {
		out["rss_bytes"] = rss
	}
	return out
}

func summarise(h *metrics.Float64Histogram) histogramSummary {
	var s histogramSummary
	for _, c := range h.Counts {
		s.Count += c
	}
	upper := func(i int) float64 { // bucket i spans [Buckets[i], Buckets[i+1])
		if b := h.Buckets[i+1]; !math.IsInf(b, 1) {
			return b
		}
		return h.Buckets[i]
	}
	var cum uint64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		s.Buckets = append(s.Buckets, bucket{Le: upper(i), Count: c})
		prev := cum
		cum += c
		if prev < quantileRank(s.Count, 0.5) && cum >= quantileRank(s.Count, 0.5) {
			s.P50 = upper(i)
		}
		if prev < quantileRank(s.Count, 0.99) && cum >= quantileRank(s.Count, 0.99) {
			s.P99 = upper(i)
		}
		s.Max = upper(i)
	}
	return s
}

func quantileRank(total uint64, q float64) uint64 {
	r := uint64(math.Ceil(float64(total) * q))
	return max(r, 1)
}

func openFDs() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(ents) - 1, nil // minus the fd ReadDir itself had open
}

func rssBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(bytes.TrimSpace(b)))
	if len(f) < 2 {
		return 0, os.ErrInvalid
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

func serveRuntime(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, readRuntime())
}
