package catalog

import "github.com/secondbrain-dev/secondbrain/server/faults"

// Canary says how `secondbrain replay --canaries` runs one fault of the
// server's registry (package faults: the flags that switch it on, the
// cause the diagnosis must give, where its culprit must be): which catalog
// scenario must catch it.
type Canary struct {
	faults.Fault
	// Scenario is the catalog scenario that must fail with it on.
	Scenario string
}

// canaryScenario is the catalog scenario that catches each fault.
//
// Why each scenario: log-storm logs ~90 records per query while the sink
// stalls (sync shipping blocks the handler on the sink); stderr-backpressure
// never reads stderr (a synchronous stderr write blocks once the 64 KiB
// pipe is full); cancel-mid-upload cancels a call while it waits on the
// model and then needs the next one to get a model slot (a semaphore the
// cancelled call left held blocks it); back-to-back makes a long context
// call while the heartbeat's no-op calls need dispatching (a pool of one
// serialises them behind it), then asks the same query again (a call that
// burns CPU for the calls before it, or waits for a lock a background
// compaction holds, breaks its budget against the first); slow-uploads
// uploads in parallel through slow, throttled requests (a connection pool
// of one with no timeout queues every request behind the slowest);
// no-context-interleave sends a 100-file context on most calls
// (synchronous reads on the dispatch path hold up the dispatch of
// everything else; the fault reads past the page cache, a sector per read,
// as a cold or slow disk would — the freshly generated tree is cached and
// would hide it); session-continue settles after its calls (a goroutine
// each model call leaves behind is found by the leak check by identity).
var canaryScenario = map[string]string{
	faults.SyncLog:        "log-storm",
	faults.SyncStderr:     "stderr-backpressure",
	faults.HeldSemaphore:  "cancel-mid-upload",
	faults.WorkerPool:     "back-to-back",
	faults.ConnPool:       "slow-uploads",
	faults.BlockingFileIO: "no-context-interleave",
	faults.GoroutineLeak:  "session-continue",
	faults.CPUHotPath:     "back-to-back",
	faults.HeldLock:       "back-to-back",
}

// canaryLoad is the load scenario that must catch a fault too: many-hosts
// sends context queries from four hosts through a slow sink, so shipping
// logs on the request path holds every host's calls on the sink.
var canaryLoad = map[string]string{
	faults.SyncLog: "many-hosts",
}

// Canaries lists every fault of the registry, in its order, with its
// scenario — and once more with the load scenario that catches it too.
func Canaries() []Canary {
	var out []Canary
	for _, f := range faults.All() {
		out = append(out, CanaryRuns(f.Name)...)
	}
	return out
}

// CanaryRuns is every run of the named canary: its scenario, then its
// load scenario if it has one; nil for an unknown name.
func CanaryRuns(name string) []Canary {
	c, ok := CanaryByName(name)
	if !ok {
		return nil
	}
	out := []Canary{c}
	if sc, ok := canaryLoad[name]; ok {
		out = append(out, Canary{Fault: c.Fault, Scenario: sc})
	}
	return out
}

// CanaryByName returns the canary's run; ok is false for an unknown name.
func CanaryByName(name string) (Canary, bool) {
	f, ok := faults.Lookup(name)
	if !ok {
		return Canary{}, false
	}
	return Canary{Fault: f, Scenario: canaryScenario[name]}, true
}
