package debug

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

// readRuntime samples runtime/metrics and /proc into the contract's
// document. Cumulative histograms (scheduling latency) cover the whole
// process life: diff two reads for a window. A metric this Go version
// lacks stays zero.
func readRuntime() debugapi.Runtime {
	rt := debugapi.Runtime{OpenFDs: -1, RSSBytes: -1}
	into := map[string]any{
		"/sched/goroutines:goroutines":           &rt.Goroutines,
		"/sched/goroutines/running:goroutines":   &rt.GoroutinesRunning,
		"/sched/goroutines/runnable:goroutines":  &rt.GoroutinesRunnable,
		"/sched/goroutines/waiting:goroutines":   &rt.GoroutinesWaiting,
		"/sched/goroutines/not-in-go:goroutines": &rt.GoroutinesNotInGo,
		"/sched/gomaxprocs:threads":              &rt.GOMAXPROCS,
		"/memory/classes/heap/objects:bytes":     &rt.HeapObjectsBytes,
		"/gc/heap/goal:bytes":                    &rt.HeapGoalBytes,
		"/memory/classes/total:bytes":            &rt.MemoryTotalBytes,
		"/gc/cycles/total:gc-cycles":             &rt.GCCycles,
		"/gc/heap/allocs:objects":                &rt.HeapAllocsObjects,
		"/sync/mutex/wait/total:seconds":         &rt.MutexWaitSeconds,
		"/sched/latencies:seconds":               &rt.SchedLatencies,
		"/sched/pauses/total/gc:seconds":         &rt.GCPauses,
	}
	known := map[string]bool{}
	for _, d := range metrics.All() {
		known[d.Name] = true
	}
	var samples []metrics.Sample
	for name := range into {
		if known[name] {
			samples = append(samples, metrics.Sample{Name: name})
		}
	}
	metrics.Read(samples)
	for _, s := range samples {
		switch dst := into[s.Name].(type) {
		case *int64:
			if s.Value.Kind() == metrics.KindUint64 {
				*dst = int64(s.Value.Uint64())
			}
		case *float64:
			if s.Value.Kind() == metrics.KindFloat64 {
				*dst = s.Value.Float64()
			}
		case *debugapi.Histogram:
			if s.Value.Kind() == metrics.KindFloat64Histogram {
				*dst = summarise(s.Value.Float64Histogram())
			}
		}
	}
	if n, err := openFDs(); err == nil {
		rt.OpenFDs = int64(n)
	}
	if rss, err := rssBytes(); err == nil {
		rt.RSSBytes = rss
	}
	return rt
}

func summarise(h *metrics.Float64Histogram) debugapi.Histogram {
	var s debugapi.Histogram
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
		s.Buckets = append(s.Buckets, debugapi.Bucket{Le: upper(i), Count: c})
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
