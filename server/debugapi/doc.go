// Package debugapi is the contract between the server and the harness: the
// typed documents the server's debug listener serves, which the listener
// encodes and the harness's probes decode — one definition each, no second
// spelling. The registry of deliberate faults, the other half of the
// contract, is package faults.
package debugapi

// Paths of the debug listener's documents.
const (
	PathRuntime = "/debug/runtime" // GET: [Runtime]
	PathCalls   = "/debug/calls"   // GET: [Calls]
	PathVars    = "/debug/vars"    // GET: [Vars]
	PathSettle  = "/debug/settle"  // POST: closes idle upstream connections; a plain-text report
	// PathProfiling: GET ?block=RATE&mutex=FRACTION sets either or both
	// (0 turns one off); [Profiling] is the state after.
	PathProfiling = "/debug/profiling"
	// PathFlightRecorder: GET ?start=1 starts the runtime/trace flight
	// recorder; GET alone returns its current window (a trace file).
	PathFlightRecorder = "/debug/flightrecorder"
)

// Profiling is what /debug/profiling answers: the profiling now in force.
type Profiling struct {
	BlockProfileRate     int  `json:"block_profile_rate"`
	MutexProfileFraction int  `json:"mutex_profile_fraction"`
	FlightRecorder       bool `json:"flight_recorder"`
}
