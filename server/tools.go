package server

import (
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// UtilityTools names the tools the server offers beside the model tools;
// no model tool may take one of these names.
func UtilityTools() []string {
	return []string{"list_models", "count_project_tokens", "list_sessions", "describe_session",
		"search_project_history", "search_mcp_debug_logs", "start_job", "poll_job", "cancel_job"}
}

func (s *Server) registerTools() {
	for _, m := range s.opt.Models {
		s.models[m.Tool] = m
		s.mcp.AddTool(chatTool(m), s.chatHandler(m))
	}
	s.mcp.AddTool(mcp.NewTool("list_models",
		mcp.WithDescription("List the model tools with their context windows, timeouts, API style, capabilities, lineup, and whether each is available (else why not: a missing key names its variable)."),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.listModels)
	s.mcp.AddTool(mcp.NewTool("count_project_tokens",
		mcp.WithDescription("Estimate the tokens of files and directories (same ignore rules as context packing): total, per file, largest files and directories."),
		mcp.WithArray("items", mcp.Required(), mcp.Description("File or directory paths."), mcp.WithStringItems()),
		mcp.WithNumber("top_n", mcp.Description("How many largest files and directories to list (default 10).")),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.countTokens)
	s.mcp.AddTool(mcp.NewTool("list_sessions",
		mcp.WithDescription("List live conversation sessions of this project (tool, session_id, calls, last use, expiry)."),
		mcp.WithString("tool", mcp.Description("Only sessions of this tool.")),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.listSessions)
	s.mcp.AddTool(mcp.NewTool("describe_session",
		mcp.WithDescription("Show one session: model, previous response id or history length, the stable inline file list, vector stores."),
		mcp.WithString("session_id", mcp.Required()),
		mcp.WithString("tool", mcp.Description("The tool of the session; if omitted, every tool's session with this id is shown.")),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.describeSession)
	if s.opt.History != nil {
		s.mcp.AddTool(mcp.NewTool("search_project_history",
			mcp.WithDescription("Search this project's memory: summaries of past conversations and the git commit log. Separate several queries with ';'."),
			mcp.WithString("query", mcp.Required()),
			mcp.WithNumber("max_results", mcp.Description("Default 8.")),
			mcp.WithArray("store_types", mcp.Description(`"conversation", "commit" (default both).`), mcp.WithStringItems()),
			mcp.WithReadOnlyHintAnnotation(true),
		), s.searchHistory)
	}
	if s.opt.DeveloperMode && s.opt.DebugLogs != nil {
		s.mcp.AddTool(mcp.NewTool("search_mcp_debug_logs",
			mcp.WithDescription("Developer mode: run a LogsQL query against this server's own logs in VictoriaLogs."),
			mcp.WithString("query", mcp.Required(), mcp.Description("LogsQL, e.g. `_time:5m tool:chat_with_o3`.")),
			mcp.WithNumber("limit", mcp.Description("Max records (default 100).")),
			mcp.WithReadOnlyHintAnnotation(true),
		), s.searchDebugLogs)
	}
}

// toolError is a tool-level error result: the client shows it to the model.
func toolError(format string, a ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf(format, a...))
}

// ---- utility tools ----
