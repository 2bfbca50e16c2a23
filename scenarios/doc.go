// Package scenarios replays the incidents that once made an MCP server like ours hang against an MCP server: the
// scenario file format (strict YAML), the project trees a scenario sends as
// context, and the runner that starts the fakes and the server, plays the
// host's part over stdio or streamable HTTP, injects faults at the right
// moments and records every call.
//
// # Scenario files
//
// A scenario is one YAML document; see [Scenario] for every key. Unknown
// keys, duplicate keys, wrong types and bad values are errors of type
// [*Error] that name the file, line and key. Durations are scenario time:
// a run at time scale 60 waits 3 real seconds for a "3m" gap, and the fakes
// and the server run on clocks of the same scale, so causality is kept.
//
// # Verdicts, validity and diagnosis
//
// Every scenario is watched (see [Options]): the probes' open-loop
// heartbeat (over stdio on the scenario's own pipe, over HTTP on a
// connection of its own), a runtime sampler, and per step — a call,
// concurrent calls, a cancel, a wait, or a gap with calls in flight — the
// block/mutex profile deltas and goroutine dumps every [DefaultDumpEvery]
// ([StepObserver]). A heartbeat breach fetches goroutine dumps and the
// flight-recorder window at once. The server runs with
// GODEBUG=tracebacklabels=1 so its dumps carry path=request|background.
//
// At the end the file's thresholds ([ScenarioThresholds]) judge: heartbeat
// p99/p99.9/max per phase (absolute, and against the baseline phase),
// no-op timeouts, leaks (goroutines and fds back to the baseline; the
// server's idle upstream keep-alive connections are tolerated and said),
// log accounting (emitted = delivered + dropped + pending; healthy sink:
// 0 dropped, sink count = delivered), cancel → handler return and → next
// answer, responses written after a cancel (stdio), and request goroutines
// waiting in log shipping. The verdict is every step's expectation AND
// every check. A run whose prober fell behind (send lag, dropped ticks, too
// few samples, noisy baseline) is invalid unless a failure stands beyond
// what the lag explains. A failing scenario gets a diagnosis; its raw
// profiles are saved under Options.OutDir/profiles/<scenario>/.
//
// Over stdio a server whose read loop is stuck stops reading its stdin;
// mcp-go's client then blocks writing, ignoring ctx. The session closes
// the pipe wedgeGrace after a request's ctx ended, so such a run ends as
// failed steps instead of hanging.
//
// # Goroutines and processes
//
// [Runner.Run] starts one goroutine that owns everything the run starts: the
// in-process fakes, the server subprocess (in its own process group, killed
// with the group on any exit path), the MCP client and the temp directories.
// The returned channel is closed only after all of them are stopped and
// removed. [Runner.Stop] ends a run early and is idempotent.
package scenarios
