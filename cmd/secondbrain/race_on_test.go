//go:build race

package main

import "time"

// Under -race the server this test binary runs is the race-instrumented
// one, and an HTTP request costs it about ten times the CPU. At the
// default heartbeat (a ping every 5 ms and a no-op call every 20 ms: 250
// requests/s) it kept both CPUs busy on its own, so the first query of
// session-continue (100 files) took 13–20 s instead of 1.2 s, 1,100
// requests queued in the server and pings took 5–7 s: the e2e replay then
// ran past its 30 s tool limit in CI. Half that rate (125 requests/s)
// leaves the instrumented server the headroom an ordinary build has at the
// default.
const (
	testPingInterval = 10 * time.Millisecond
	testNoopInterval = 40 * time.Millisecond
)
