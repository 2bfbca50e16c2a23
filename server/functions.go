package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secondbrain-dev/secondbrain/server/packing"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

type (
	providerRequest  = provider.Request
	providerResponse = provider.Response
	providerMessage  = provider.Message
	providerFunction = provider.Function
)

func attachRequest(project, tool, sessionID string, files []packing.File) vectorstore.AttachRequest {
	req := vectorstore.AttachRequest{Project: project, Tool: tool, SessionID: sessionID}
	for _, f := range files {
		req.Files = append(req.Files, vectorstore.File{Path: f.Path, Size: f.Size, ModTime: f.ModTime})
	}
	return req
}

// maxFunctionResultBytes bounds what one function result feeds back to the model.
const maxFunctionResultBytes = 64 << 10

// searchTaskFilesFunc lets chat models (which have no native file_search)
// search this call's overflow files.
func (s *Server) searchTaskFilesFunc(storeIDs []string) provider.Function {
	return provider.Function{
		Name:        "search_task_files",
		Description: "Search the project files marked [attached] in the file tree (semantic search over their content).",
		Parameters: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"query":       map[string]any{"type": "string", "description": "What to look for."},
				"max_results": map[string]any{"type": "integer", "description": "Default 8."},
			},
			"required": []string{"query"},
		},
		Run: func(ctx context.Context, arguments string) (string, error) {
			a, err := parseSearchArgs("search_task_files", arguments)
			if err != nil {
				return "", err
			}
			hits, err := s.opt.Attacher.Search(ctx, storeIDs, a.Query, a.MaxResults)
			if err != nil {
				return "", err
			}
			return formatHits(hits), nil
		},
	}
}

// historyFunc offers search_project_history to the model.
func (s *Server) historyFunc() provider.Function {
	return provider.Function{
		Name:        "search_project_history",
		Description: "Search this project's memory: summaries of earlier conversations and the git commit log. Separate several queries with ';'.",
		Parameters: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"query":       map[string]any{"type": "string"},
				"max_results": map[string]any{"type": "integer"},
			},
			"required": []string{"query"},
		},
		Run: func(ctx context.Context, arguments string) (string, error) {
			a, err := parseSearchArgs("search_project_history", arguments)
			if err != nil {
				return "", err
			}
			hits, err := s.opt.History.SearchHistory(ctx, s.project, splitQueries(a.Query), a.MaxResults, nil)
			if err != nil {
				return "", err
			}
			return formatHits(hits), nil
		},
	}
}

func formatHits(hits []vectorstore.SearchHit) string {
	if len(hits) == 0 {
		return "no results"
	}
	var b strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&b, "<result file=%q score=\"%.3f\">\n%s\n</result>\n", h.Filename, h.Score, h.Text)
		if b.Len() > maxFunctionResultBytes {
			b.WriteString("[results truncated]\n")
			break
		}
	}
	return b.String()
}

// searchArgs are the arguments of both search functions offered to models.
type searchArgs struct {
	Query      string `json:"query"`
	MaxResults int    `json:"max_results"`
}

// parseSearchArgs decodes a model's function-call arguments for the search
// function named fn; a missing or non-positive max_results means
// DefaultSearchResults.
func parseSearchArgs(fn, arguments string) (searchArgs, error) {
	var a searchArgs
	if err := json.Unmarshal([]byte(arguments), &a); err != nil {
		return a, fmt.Errorf("cannot parse %s arguments %q: %w", fn, arguments, err)
	}
	if a.MaxResults <= 0 {
		a.MaxResults = DefaultSearchResults
	}
	return a, nil
}
