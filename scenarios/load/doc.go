// Package load is an open-model load generator for MCP servers.
//
// Arrivals follow a rate profile (constant, ramped, in stages) that does
// not care how fast the server answers: arrival k is due at its intended
// time whether or not earlier calls have returned, as with k6's
// arrival-rate executors or Vegeta's constant-rate attacker. Each arrival
// is written from the thread of a precise clock ([wake.Clock]) the moment
// it wakes, through a [Sender] that writes without waiting, and its
// latency is measured from the intended time (corrected for coordinated
// omission, as wrk2 does) as well as from the moment it was written (raw).
// An arrival that finds the bound on calls in flight reached is not sent:
// it is counted as dropped, as k6 counts dropped iterations.
//
// [Run] plays one profile and returns its [Stats]; [Search] raises the
// rate until a threshold breaks and reports the highest rate that held.
package load
