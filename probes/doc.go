// Package probes watches a scenario run: an open-loop heartbeat against the
// server, its goroutine/block/mutex profiles and runtime metrics from the
// debug listener, leak and log-accounting checks, run validity, verdicts
// against thresholds, and a diagnosis that names the frame the request path
// waited in.
//
// # Goroutines
//
// Nothing starts in a constructor. [Heartbeat.Start] and [Sampler.Start]
// launch their goroutines; Stop (or cancelling the ctx given to Start) ends
// them and waits for them. A Heartbeat owns one schedule goroutine per probe
// kind, one goroutine per probe in flight (bounded) and one breach goroutine;
// a Sampler owns one polling goroutine. Everything else is synchronous.
package probes
