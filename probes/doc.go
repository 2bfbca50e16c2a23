// Package probes watches a scenario run: an open-loop heartbeat against the
// server, its goroutine/block/mutex profiles, flight-recorder traces and
// runtime metrics from the debug listener, leak and log-accounting checks,
// run validity, verdicts against thresholds, and a diagnosis that names the
// frame the request path waited in.
//
// # Goroutines
//
// Nothing starts in a constructor. [Heartbeat.Start] and [Sampler.Start]
// launch their goroutines; Stop (or cancelling the ctx given to Start) ends
// them and waits for them. A Heartbeat owns per probe kind one schedule
// goroutine (which runs its clock, locked to an OS thread for the precise
// clock of package wake) and one launcher goroutine, one goroutine per
// probe in flight (bounded by MaxOutstanding; pings sent through a
// a Sender need none, only timers) and one breach goroutine that runs
// OnBreach; Stop waits for all of them and for every ping sent; a Sampler
// owns one polling goroutine. Everything else ([DebugClient], [Step], [Diagnose],
// [Thresholds.Evaluate]) is synchronous and safe for concurrent use.
//
// # Use (the runner's side)
//
//	dc := probes.NewDebugClient(debugAddr, nil)      // from --debug-addr-file
//	dc.SetProfiling(ctx, 1, 1); dc.StartFlightRecorder(ctx)
//	hb := probes.NewHeartbeat(target, probes.HeartbeatOptions{Origin: start,
//		OnBreach: func(ctx context.Context, b probes.Breach) { cur.OnBreach(ctx, 50*time.Millisecond) }})
//	sm := probes.NewSampler(dc, 0, start)
//	hb.Start(ctx); sm.Start(ctx)
//	base, _ := dc.Runtime(ctx)                       // goroutine/fd baseline
//	for each step:
//		hb.SetPhase("fault:slow-sink")               // when the fault configuration changes
//		hb.ArmBreach()
//		cur, _ = dc.BeginStep(ctx, "step3")
//		… run the step; cur.SampleGoroutines(ctx) mid-step …
//		cur.End(ctx)
//		if the step failed or was slow: paths, _ := cur.SaveProfiles(outDir); diag := cur.Diagnose(probes.DiagnoseOptions{}, paths)
//	hb.Stop(); sm.Stop()
//	leak, _ := probes.WaitSettled(ctx, dc, base, probes.LeakOptions{Timeout: th.SettleTimeout})
//	th := probes.DefaultThresholds(); scenario.DecodeThresholds(&th)
//	checks := th.Evaluate(probes.Measurements{Heartbeat: hb.Snapshot(), Leak: &leak, …})
//	invalid := th.Validity(hb.Snapshot(), &baselineSched, &calibration)   // non-empty: exit 3
//
// # Heartbeat and coordinated omission
//
// Probe k is due at start + k·interval. The clock (package wake: a thread
// sleeping with clock_nanosleep on Linux) wakes then; the probe goes out
// from the clock's thread through the Sender when there is one, else it is
// handed to a goroutine of its own, so a stalled server does not delay
// later sends; latency is measured from the intended time,
// so a 1 s stall at 20 ms intervals costs ~50 slow samples (as wrk2 does),
// not one. After a late wake-up every overdue probe is sent at once. If
// MaxOutstanding probes are in flight the tick is counted as dropped,
// which makes the run invalid. Timed-out probes are recorded at their
// elapsed time (so max and p99.9 see them) and counted; errors are counted
// but not recorded.
//
// # Request path vs background
//
// The server should label its goroutines with pprof.Do: path=request with
// tool and request_id on the dispatch of every request (goroutines a
// handler starts inherit them), path=background with
// component=shipper|lifecycle|memory|stderr on its own loops. The labels
// are in the debug=0 goroutine profile, and in the debug=2 text when the
// server runs with GODEBUG=tracebacklabels=1 (recommended: the runner sets
// it in the server's environment); [NewGoroutineDump] joins them by stack
// otherwise. Without labels (and always for block/mutex/trace stacks,
// which carry none) evidence decides ([PathIndex]): the root-most function
// the run's labelled goroutines were seen in on one path only; then
// standard-library and library frames (net/http persistConn loops and an
// unlabelled inbound HTTP handler → other; mcp-go's dispatch → request);
// then the server's own import path ([DefaultServerPrefix]) → request. No
// server function is named here: adding one needs no harness change.
//
// # Diagnosis rule set
//
// [ClassifyStack] labels each waiting request-path goroutine (first match
// wins); [Diagnose] keys them by culprit frame — the innermost frame in the
// server's module (else outside the standard library) — and ranks keys by
// observed wait (runtime minutes, or the time a goroutine stayed in the same
// stack across dumps, plus block/mutex delay, plus the exact time the
// flight-recorder windows of a breach show in syscalls and blocks), then by
// goroutine count.
//
// Evidence comes from four sources, named in each ranked frame: goroutine
// (dumps, sampled), block and mutex (profile deltas; no syscalls), and
// trace ([ParseTraceWaits] over the windows fetched at a breach: every
// syscall and block with its duration and the stack that entered it, so
// short repeated file reads or stderr writes add up). A trace carries no
// labels, so frames decide its path; its wait reasons map onto dump states
// ([TraceState]), and waits of the GC, sleeps and the runtime's own
// goroutines are not counted.
//
//	cause                  matches                                                       canary flag
//	stderr-write           log frame + os.(*File).Write / poll.FD.Write / syscall write   sync-stderr
//	log-shipping-io        log frame + net/http client or net conn frames                 sync-log
//	(log lock waiters)     log frame + lock/chan wait → whichever of the two the other
//	                       stacks show
//	conn-pool-exhausted    net/http Transport getConn / queueForIdleConn / wantConn       conn-pool
//	slow-upstream          other net/http client frames (persistConn.roundTrip)           —
//	blocking-file-io       os.Open/ReadFile/File.Read/Stat, syscall open/read, no net     blocking-file-io
//	worker-pool-exhausted  a wait to send (state "chan send", or a select whose          worker-pool
//	                       statement has a send case, read from the source: [Sources])
//	                       while the same dump finds every worker of a pool serving a
//	                       request (workers: goroutines parked receiving at the
//	                       baseline, by identity — see findPools)
//	semaphore-held         Mutex/RWMutex Lock, semacquire, x/sync semaphore Acquire,     held-semaphore
//	                       or a wait to send with no busy pool: a slot nobody frees
//	unknown                any other wait (IO wait, syscall, a receive, a select that
//	                       only receives — a result, a signal, a timer's sleep)
//
// No rule reads a server function's name: what a goroutine waits to do
// comes from its wait reason and the statement it is parked in, whose pool
// it is from the baseline's goroutines.
//
// Ranking: culprits with a named cause and at least [PromoteMin] of wait
// come first, then slow-upstream (model calls wait on their provider by
// design, and scenario fakes are slow on purpose), then unknown; by wait
// within a tier. A goroutine in time.Sleep is not waiting on anything.
//
// Log frames are log/slog, log.Logger and any (*…Handler).Handle.
// Not waits: running, runnable, sleep, GC/runtime states, and a transport's
// own idle loop: the standard library's connection loops (net/http conn
// serve and persistConn loops, Accept, os/signal), a pipe read parked in the
// poller, and any goroutine where it was at the baseline ([DropIdle]).
package probes
