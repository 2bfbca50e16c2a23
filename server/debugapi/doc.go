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
)
