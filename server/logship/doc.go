// Package logship is the server's logging: log/slog handlers that write to
// stderr and ship to VictoriaLogs without ever making a log call wait.
//
// # Why
//
// The original server froze on its second query. The post-mortem blamed a
// logging handler that POSTed each record to VictoriaLogs on the request
// path; later digging found the real culprit was a synchronous stderr
// handler filling the 64 KiB pipe that the MCP host drained too slowly.
// Both are network sinks as far as this package is concerned: a log call
// encodes its record, appends it to a bounded in-memory queue without
// waiting, and returns. A full queue drops the record and counts it.
//
// # Pieces
//
//   - [Stderr]: async text/JSON handler; one writer goroutine per handler
//     tree writes the queue to an io.Writer.
//   - [Shipper]: async VictoriaLogs handler; one goroutine batches the queue
//     (by count, bytes and time) into POST /insert/jsonline with a timeout
//     per request and retries with backoff while the sink is down.
//   - [Fanout]: passes each record to the sinks whose own level admits it.
//   - [Pipeline]: the three wired from a [Config], as `serve` uses them.
//   - [Redactor]: secrets (sk-…, xai-…, Bearer …, Authorization/api_key
//     attributes, configured literals) are replaced before any sink.
//   - [Query]: bounded LogsQL query for the search_mcp_debug_logs tool.
//
// # Goroutines
//
// [StartStderr] starts one writer goroutine and [StartShipper] one shipper
// goroutine; each Close(ctx) stops and waits for its own (with one
// exception: a write(2) on a blocking pipe cannot be interrupted, see
// [Stderr.Close]). Nothing starts in init. Handlers made by WithAttrs and
// WithGroup share their parent's goroutine, queue, level and counters.
//
// # Drop policy
//
// A full queue (by count or by bytes) rejects the newest record. Dropping
// the oldest would keep fresher records, but the records that matter most
// in an incident are the ones from when the sink began to fall behind:
// they say what the server was doing when trouble started. Rejecting the
// newest keeps them, leaves one contiguous gap that the rate-limited stderr
// notice announces, costs O(1) under the queue lock, and never touches
// records that are already queued.
//
// # Accounting
//
// Every sink keeps emitted, queued, delivered, pending and dropped-by-reason
// counters ([SinkStats], [ShipperStats]). They change only under the queue's
// lock, so every snapshot satisfies emitted = delivered + dropped + pending
// exactly.
//
// # Sync modes (canaries only)
//
// [ModeSyncLog] and [ModeSyncStderr] reproduce the original bugs on purpose:
// records are POSTed / written on the caller's goroutine under a mutex, so a
// slow sink or an unread pipe blocks every logging goroutine. They exist for
// the harness's canary scenarios and must never be the default.
package logship
