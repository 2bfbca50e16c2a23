// Package server is the secondbrain MCP server: it lets an MCP host (Claude
// Code, Cursor, …) consult other models — OpenAI o3/o3-pro/gpt-4.1 and the
// deep-research models, Gemini 2.5, Grok — with a whole project's files as
// context.
//
// # Transports
//
// [Stdio] is a stdio loop written here around mcp-go's MCPServer.HandleMessage
// (mcp-go's own StdioServer has head-of-line and cancellation traps, see the
// type's doc). HTTP uses mcp-go's streamable HTTP server behind a bearer-token
// and Origin/Host guard ([Server.HTTPHandler]).
//
// # Goroutines
//
// Stdio.Serve owns a reader, a writer and one goroutine per request; it waits
// for all of them before returning. [Server] owns its session-cleanup loop,
// stopped by [Server.Close]. Tool handlers start no goroutine that outlives
// the call, except progress tickers which end with the call.
//
// # Provider state that vanished
//
// A session points at provider state: a stored response (previous_response_id)
// and a vector store. OpenAI drops stored responses after 30 days, stores
// expire or are deleted out of band, and `serve --provider fake` loses both
// at every restart. When a model call fails because its previous response is
// unknown, the call starts the conversation afresh — the stale id is dropped
// and the stable inline list cleared, so every file is sent again — and when
// it fails because a vector store is unknown, the store is checked and
// forgotten ([vectorstore.Manager.ForgetMissingStore]) and the call retried
// (overflow goes to a new store). Either way the reply's metadata says so in
// session_reset. search_project_history skips memory stores that vanished
// and names them (missing_stores) instead of failing.
//
// # Observability
//
// [Calls] tracks tool calls in flight and recently finished, is the
// /debug/calls handler, and exports Prometheus collectors on the registerer
// given to [New].
package server
