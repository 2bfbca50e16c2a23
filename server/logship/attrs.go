package logship

import "log/slog"

// Keys of the fields every component should use, so that the same thing has
// the same name in stderr output, in VictoriaLogs and in LogsQL queries.
// time, level and msg are slog's own ([slog.TimeKey], [slog.LevelKey],
// [slog.MessageKey]); the VictoriaLogs encoder renames time and msg to
// VictoriaLogs' _time and _msg.
const (
	KeyComponent = "component"  // server part: "vectorstore", "provider", "mcp", …
	KeyTool      = "tool"       // MCP tool name
	KeySession   = "session"    // conversation/session id
	KeyRequestID = "request_id" // MCP request id (or another per-call id)
	KeyModel     = "model"      // model name the call was routed to
	KeyApp       = "app"        // added to every VictoriaLogs record; a stream field
)

// Component returns the attribute naming the server component that logs.
func Component(name string) slog.Attr { return slog.String(KeyComponent, name) }

// Tool returns the attribute naming the MCP tool being served.
func Tool(name string) slog.Attr { return slog.String(KeyTool, name) }

// Session returns the attribute naming the session.
func Session(id string) slog.Attr { return slog.String(KeySession, id) }

// RequestID returns the attribute naming the request. Any is accepted because
// JSON-RPC ids are strings or numbers.
func RequestID(id any) slog.Attr { return slog.Any(KeyRequestID, id) }

// Model returns the attribute naming the model.
func Model(name string) slog.Attr { return slog.String(KeyModel, name) }
