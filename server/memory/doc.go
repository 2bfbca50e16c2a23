// Package memory keeps a project's memory: a summary of every successful
// exchange ("conversations") and, on a schedule, its git commit log
// ("commits"), stored as documents in per-project vector stores that the
// models can search with search_project_history.
//
// # Never on the request path
//
// The original server awaited the memory write for up to 120 s before
// replying. Here [Writer.Remember] only enqueues (a bounded queue; when full
// the exchange is dropped and counted) and one writer goroutine, owned by the
// [Writer], does the redaction, the uploads and the `git log` runs (each
// with a timeout). [Writer.Close] drains the queue until its context ends.
//
// # Secrets
//
// Text is redacted before it is stored, by the same rules as the logs
// (package redact): OpenAI (sk-…), xAI (xai-…) and
// Google (AIza…) keys, Bearer tokens, and any configured literal.
//
// # Searching
//
// [Writer.SearchHistory] searches every memory store of the requested types,
// rolled-over ones included (the original searched only the active one).
// Each query string is split on ';' here, so callers may pass the tool's
// argument through unchanged.
package memory
