package server

import (
	"encoding/json"

	"github.com/mark3labs/mcp-go/mcp"
)

// Metadata is the structured account of a model call returned with every
// answer: nothing is dropped silently.
type Metadata struct {
	Tool               string `json:"tool"`
	Model              string `json:"model"`
	SessionID          string `json:"session_id"`
	Project            string `json:"project"`
	ResponseID         string `json:"response_id,omitempty"`
	PreviousResponseID string `json:"previous_response_id,omitempty"`
	// SessionReset says why the session started afresh during this call:
	// the provider no longer had its previous response or vector store.
	SessionReset     string         `json:"session_reset,omitempty"`
	Inlined          []string       `json:"inlined"`
	Unchanged        []string       `json:"unchanged"`
	Overflow         []string       `json:"overflow"`
	OverflowAttached bool           `json:"overflow_attached"`
	OverflowNote     string         `json:"overflow_note,omitempty"`
	VectorStoreIDs   []string       `json:"vector_store_ids,omitempty"`
	Uploaded         int            `json:"uploaded,omitempty"`
	Reused           int            `json:"reused,omitempty"`
	FailedUploads    []FailedUpload `json:"failed_uploads,omitempty"`
	Skipped          []SkippedFile  `json:"skipped"`
	InlineTokens     int            `json:"inline_tokens"`
	TotalTokens      int            `json:"total_tokens"`
	BudgetTokens     int            `json:"budget_tokens"`
	Polls            int            `json:"polls,omitempty"`
	ToolCalls        []string       `json:"tool_calls,omitempty"`
	Citations        []string       `json:"citations,omitempty"`
	SchemaValid      *bool          `json:"schema_valid,omitempty"`
	Timings          Timings        `json:"timings"`
}

// FailedUpload is an overflow file the vector store could not take.
type FailedUpload struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// SkippedFile is a file left out of the context, and why.
type SkippedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Timings of one call, in milliseconds.
type Timings struct {
	PackMS   float64 `json:"pack_ms"`
	AttachMS float64 `json:"attach_ms,omitempty"`
	ModelMS  float64 `json:"model_ms"`
	TotalMS  float64 `json:"total_ms"`
}

// MetadataPrefix starts the text block that carries [Metadata] as JSON (for
// clients that ignore structuredContent).
const MetadataPrefix = "secondbrain-metadata: "

func resultWithMeta(answer string, meta Metadata) *mcp.CallToolResult {
	b, _ := json.Marshal(meta) // plain data: cannot fail
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(answer), mcp.NewTextContent(MetadataPrefix + string(b))},
		StructuredContent: meta,
	}
}

func errorWithMeta(msg string, meta Metadata) *mcp.CallToolResult {
	r := resultWithMeta(msg, meta)
	r.IsError = true
	return r
}

func newMetadata(s *Server, m Model, p *chatParams) Metadata {
	return Metadata{Tool: m.Tool, Model: m.Model, SessionID: p.sessionID, Project: s.project,
		Inlined: []string{}, Unchanged: []string{}, Overflow: []string{}, Skipped: []SkippedFile{}, BudgetTokens: m.budgetTokens()}
}
