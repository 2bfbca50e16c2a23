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
// # Observability
//
// [Calls] tracks tool calls in flight and recently finished, is the
// /debug/calls handler, and exports Prometheus collectors on the registerer
// given to [New].
package server
