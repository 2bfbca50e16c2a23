package debugapi

// Runtime is /debug/runtime: the server's Go runtime and process, read
// when asked. Counters and histograms are cumulative over the process's
// life: subtract an earlier read for a window.
type Runtime struct {
	Goroutines         int64 `json:"goroutines"`
	GoroutinesRunning  int64 `json:"goroutines_running"`
	GoroutinesRunnable int64 `json:"goroutines_runnable"`
	GoroutinesWaiting  int64 `json:"goroutines_waiting"`
	GoroutinesNotInGo  int64 `json:"goroutines_not_in_go"`
	GOMAXPROCS         int64 `json:"gomaxprocs"`
	HeapObjectsBytes   int64 `json:"heap_objects_bytes"`
	HeapGoalBytes      int64 `json:"heap_goal_bytes"`
	MemoryTotalBytes   int64 `json:"memory_total_bytes"`
	GCCycles           int64 `json:"gc_cycles"`
	HeapAllocsObjects  int64 `json:"heap_allocs_objects_total"`
	// MutexWaitSeconds is the time goroutines spent blocked on a
	// sync.Mutex or RWMutex.
	MutexWaitSeconds float64 `json:"mutex_wait_total_seconds"`
	// SchedLatencies is how long goroutines waited to run once runnable.
	SchedLatencies Histogram `json:"sched_latencies_seconds"`
	GCPauses       Histogram `json:"gc_pauses_seconds"`
	// OpenFDs and RSSBytes come from /proc; -1 where it cannot be read.
	OpenFDs  int64 `json:"open_fds"`
	RSSBytes int64 `json:"rss_bytes"`
}

// Histogram is a runtime/metrics histogram of seconds: its non-empty
// buckets, ascending, and quantiles read from their upper bounds.
type Histogram struct {
	Count   uint64   `json:"count"`
	P50     float64  `json:"p50"`
	P99     float64  `json:"p99"`
	Max     float64  `json:"max"`
	Buckets []Bucket `json:"buckets"`
}

// Bucket counts the values up to Le seconds (and above the previous
// bucket's); the open-ended top bucket reports its lower bound.
type Bucket struct {
	Le    float64 `json:"le"`
	Count uint64  `json:"count"`
}
