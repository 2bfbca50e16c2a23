// Package debug is the server's debug listener: pprof, Prometheus metrics,
// counters as JSON, runtime/metrics, block/mutex profiling switches and a
// runtime/trace flight recorder, on a loopback-only HTTP port.
//
// It is off unless `serve --debug-addr 127.0.0.1:0` asks for it. Because the
// server's stderr may be unread (the stderr-backpressure incident), the bound
// address is also written to a file (--debug-addr-file) so a harness that
// started the server knows where to look.
//
// # Goroutines
//
// [Start] starts one serving goroutine (plus net/http's per-connection
// goroutines); [Listener.Stop] shuts the server down, waits for it, stops
// the flight recorder, and turns block/mutex profiling back off if this
// listener turned it on. Nothing starts in init.
//
// # Endpoints
//
//	/debug/pprof/...         net/http/pprof: goroutine, block, mutex, heap, allocs,
//	                         threadcreate, profile, trace, cmdline, symbol
//	/metrics                 Prometheus, from Options.Gatherer
//	/debug/vars              JSON of Options.Vars() (e.g. the log shipper's counters)
//	/debug/runtime           JSON of runtime/metrics: scheduling latency, goroutines,
//	                         heap, GC, plus open fds and RSS
//	/debug/profiling         ?block=RATE&mutex=FRACTION sets the profiling rates
//	/debug/flightrecorder    ?start=1 / ?stop=1; a plain GET writes the current window
//	Options.Handlers         anything the server adds (e.g. /debug/calls)
package debug
