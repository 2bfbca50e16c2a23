package server

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/secondbrain-dev/secondbrain/server/provider"
)

// traceParentMiddleware carries a caller's W3C trace context (the
// tools/call's `_meta.traceparent`) to every provider request the call
// makes, uploads included, so the provider's records — or a test double's
// accounting of upstream time — join the MCP call that caused them.
func traceParentMiddleware(next mcpserver.ToolHandlerFunc) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if m := req.Params.Meta; m != nil {
			if tp, ok := m.AdditionalFields[provider.TraceParentHeader].(string); ok {
				ctx = provider.WithTraceParent(ctx, tp)
			}
		}
		return next(ctx, req)
	}
}
