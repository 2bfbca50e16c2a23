package catalog

// Canary says how `secondbrain replay --canaries` runs one canary: which
// catalog scenario must catch it, the serve flags that inject it, and the
// function the diagnosis's culprit frame must be in.
type Canary struct {
	// Name is the canary as probes.Canaries lists it.
	Name string
	// Scenario is the catalog scenario that must fail with it on.
	Scenario string
	// ServerArgs inject it into `secondbrain serve`.
	ServerArgs []string
	// Culprit is a substring of the expected culprit frame
	// ("package.Function (file:line)"); the cause label is
	// probes.ExpectedCause(Name). Empty checks the cause only.
	Culprit string
}

// Canaries lists the canaries in probes.Canaries order. The two log
// canaries are serve's deliberately blocking --log-shipping modes (their
// culprit is a frame of the logship package, e.g.
// "logship.(*Stderr).Handle (stderr.go:160)"); the others are serve's
// --canary injections.
//
// Why each scenario: log-storm logs ~90 records per query while the sink
// stalls (sync shipping blocks the handler on the sink); stderr-backpressure
// never reads stderr (a synchronous stderr write blocks once the 64 KiB
// pipe is full); cancel-mid-upload cancels a call while it waits on the
// model and then needs the next one to get a model slot (a semaphore the
// cancelled call left held blocks it);
// back-to-back makes a long context call while the heartbeat's no-op calls
// need dispatching (a pool of one serialises them behind it); slow-uploads
// uploads in parallel through slow, throttled requests (a connection pool
// of one with no timeout queues every request behind the slowest);
// no-context-interleave sends a 100-file context on most calls (synchronous
// reads on the dispatch path hold up the dispatch of everything else; the
// canary reads past the page cache, a sector per read, as a cold or slow
// disk would — the freshly generated tree is cached and would hide it).
var Canaries = []Canary{
	{Name: "sync-log", Scenario: "log-storm", ServerArgs: []string{"--log-shipping", "sync-log"},
		Culprit: "logship.(*shipCore).post"},
	{Name: "sync-stderr", Scenario: "stderr-backpressure", ServerArgs: []string{"--log-shipping", "sync-stderr"},
		Culprit: "logship.(*stderrCore).writeSync"},
	{Name: "held-semaphore", Scenario: "cancel-mid-upload", ServerArgs: []string{"--canary", "held-semaphore"},
		Culprit: "server.(*Server).acquireModelSlot"},
	{Name: "worker-pool", Scenario: "back-to-back", ServerArgs: []string{"--canary", "worker-pool"},
		Culprit: "server.(*workerPool).submit"},
	// The pool is an http.Transport setting: the culprit is the server's
	// frame that waits in getConn, the upload.
	{Name: "conn-pool", Scenario: "slow-uploads", ServerArgs: []string{"--canary", "conn-pool"},
		Culprit: "vectorstore.(*Manager).upload"},
	{Name: "blocking-file-io", Scenario: "no-context-interleave", ServerArgs: []string{"--canary", "blocking-file-io"},
		Culprit: "server.readContextOnDispatch"},
	// Every model call leaves a goroutine behind: the leak check by
	// identity finds it after settle and names its creator.
	{Name: "goroutine-leak", Scenario: "session-continue", ServerArgs: []string{"--canary", "goroutine-leak"},
		Culprit: "server.(*Server).watchCall"},
	// Each model call burns CPU for the calls before it: back-to-back's
	// second query breaks its budget against the first, and the step's CPU
	// profile names the function.
	{Name: "cpu-hot-path", Scenario: "back-to-back", ServerArgs: []string{"--canary", "cpu-hot-path"},
		Culprit: "server.(*Server).rehashHistory"},
	// A background compaction after each model call holds the lock the
	// next one takes: back-to-back's second query waits for it; the
	// diagnosis names the waiter and the holder.
	{Name: "held-lock", Scenario: "back-to-back", ServerArgs: []string{"--canary", "held-lock"},
		Culprit: "server.(*Server).lockHistory"},
}

// CanaryByName returns the canary's run; ok is false for an unknown name.
func CanaryByName(name string) (Canary, bool) {
	for _, c := range Canaries {
		if c.Name == name {
			return c, true
		}
	}
	return Canary{}, false
}
