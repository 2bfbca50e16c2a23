package server

import (
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

func (s *Server) registerTools() {
	for _, m := range s.opt.Models {
		s.models[m.Tool] = m
		s.mcp.AddTool(chatTool(m), s.chatHandler(m))
	}
	s.mcp.AddTool(mcp.NewTool("list_models",
		mcp.WithDescription("List the model tools with their context windows, timeouts, API style, capabilities and whether their provider key is configured."),
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

func chatTool(m Model) mcp.Tool {
	opts := []mcp.ToolOption{
		mcp.WithDescription(fmt.Sprintf("%s Context window %d tokens (85%% used for inline files, the rest goes to a searchable vector store); timeout %ds.",
			m.Description, m.Window, m.TimeoutSecs)),
		mcp.WithString("instructions", mcp.Required(), mcp.Description("What you want the model to do.")),
		mcp.WithString("output_format", mcp.Required(), mcp.Description("How the answer should be formatted.")),
		mcp.WithArray("context", mcp.Required(), mcp.WithStringItems(),
			mcp.Description("File and directory paths to include (may be empty). Directories are walked with .gitignore rules.")),
		mcp.WithString("session_id", mcp.Required(), mcp.Description("Conversation id; reuse it to continue.")),
		mcp.WithArray("priority_context", mcp.WithStringItems(), mcp.Description("Paths that must be inlined (never sent to the vector store).")),
		mcp.WithString("structured_output_schema", mcp.Description("A JSON Schema (as a string); the answer must be JSON valid against it.")),
		mcp.WithBoolean("disable_memory_search", mcp.Description("Do not offer the project-history search to the model.")),
	}
	if m.Temperature {
		opts = append(opts, mcp.WithNumber("temperature", mcp.Description("Sampling temperature (0–2).")))
	}
	if m.ReasoningEffort {
		opts = append(opts, mcp.WithString("reasoning_effort", mcp.Enum("low", "medium", "high")))
	}
	if m.WebSearch {
		opts = append(opts,
			mcp.WithString("search_mode", mcp.Enum("auto", "on", "off"), mcp.Description("Live web search (default off).")),
			mcp.WithObject("search_parameters", mcp.Description("xAI live-search parameters (object or JSON string).")),
			mcp.WithBoolean("return_citations", mcp.Description("Return the search citations (default true when searching).")),
		)
	}
	return mcp.NewTool(m.Tool, opts...)
}

// toolError is a tool-level error result: the client shows it to the model.
func toolError(format string, a ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf(format, a...))
}

// chatParams are a model tool's validated arguments.
type chatParams struct {
	instructions, outputFormat, sessionID string
	context, priority                     []string
	schemaText                            string
	schema                                *compiledSchema
	temperature                           *float64
	reasoningEffort                       string
	disableMemory                         bool
	searchMode                            string
	searchParams                          map[string]any
	returnCitations                       bool
}

// ---- utility tools ----
