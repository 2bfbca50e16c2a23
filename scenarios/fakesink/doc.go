// Package fakesink is a fake VictoriaLogs ingestion endpoint with fault
// controls: the slow, stalled, failing or absent log sink of the incident
// that froze the original server (synchronous log shipping to
// VictoriaLogs blocked its event loop on the second query).
//
// It accepts what VictoriaLogs accepts on POST /insert/jsonline: one JSON
// object per line, the message in _msg (or the field named by the
// _msg_field query arg / VL-Msg-Field header; a comma-separated list takes
// the first present) and the time in _time (or _time_field /
// VL-Time-Field). Bodies may be gzip-encoded. The answer is 200 with an
// empty body, as VictoriaLogs gives. Lines that are not JSON objects are
// skipped and counted (invalid_lines), not refused — VictoriaLogs does the
// same — so "emitted = delivered + dropped" checks must use records_received.
//
// Other routes: GET /health ("OK"), GET /metrics
// (vl_rows_ingested_total), POST /internal/force_flush (no-op), POST /_fault
// (partial [Faults] JSON; {"reset":true} restores the construction-time
// faults first), GET /_fault, GET /_stats (flat JSON counters, see
// [Sink.Stats]).
//
// Faults are measured on an injected [clock.Clock] (scenario time) and every
// wait ends when the client gives up or the sink is closed. Records of a
// request are stored only when the request is answered 200: a request the
// client abandoned during a delay stores nothing (counted as abandoned).
//
// "Connection refused" is modelled by really closing the listener: run the
// sink with [Sink.Start], then [Sink.Stop] and [Sink.Restart] (same address),
// or POST /_fault {"stop_for":"10s"} which restarts it by itself.
//
// # Goroutines
//
// [Sink.Start] runs one serve goroutine; a stop_for fault runs one timer
// goroutine until the restart. [Sink.Close] stops both and waits for every
// in-flight handler.
package fakesink
