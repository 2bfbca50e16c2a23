package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/server/memory"
	"github.com/secondbrain-dev/secondbrain/server/packing"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

func (s *Server) listModels(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	type entry struct {
		Model
		KeyConfigured bool   `json:"key_configured"`
		BaseURL       string `json:"base_url"`
		Available     bool   `json:"available"`
		// Unavailable says why a call would fail before reaching the model.
		Unavailable string `json:"unavailable,omitempty"`
	}
	out := []entry{}
	for _, m := range s.opt.Models {
		e := entry{Model: m}
		switch c := s.clients[m.Provider]; {
		case c == nil:
			e.Unavailable = fmt.Sprintf("provider %q is not configured", m.Provider)
		case c.Endpoint().APIKey == "":
			e.BaseURL = c.Endpoint().BaseURL
			e.Unavailable = "no API key: set " + c.Endpoint().KeyEnv
		default:
			e.BaseURL = c.Endpoint().BaseURL
			e.KeyConfigured, e.Available = true, true
		}
		out = append(out, e)
	}
	return jsonResult(map[string]any{"models": out})
}

func (s *Server) countTokens(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	items, err := a.strs("items", true)
	if err != nil {
		return toolError("invalid arguments for count_project_tokens: %v", err), nil
	}
	topN, err := a.integer("top_n", 10)
	if err != nil {
		return toolError("invalid arguments for count_project_tokens: %v", err), nil
	}
	rep, err := packing.Count(ctx, items, packing.Options{Roots: s.opt.Roots, MaxFileBytes: s.opt.MaxFileBytes, MaxTotalBytes: s.opt.MaxTotalBytes}, topN)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError("cannot count tokens: %v", err), nil
	}
	return jsonResult(rep)
}

func (s *Server) listSessions(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	tool, _ := args(req.GetArguments()).str("tool", false)
	list, err := s.opt.Sessions.List(ctx, s.project)
	if err != nil {
		return toolError("%v", err), nil
	}
	if tool != "" {
		kept := list[:0]
		for _, sm := range list {
			if sm.Tool == tool {
				kept = append(kept, sm)
			}
		}
		list = kept
	}
	return jsonResult(map[string]any{"project": s.project, "ttl": s.opt.Sessions.TTL().String(), "sessions": list})
}

func (s *Server) describeSession(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	id, err := a.str("session_id", true)
	if err == nil {
		err = checkSessionID(id)
	}
	if err != nil {
		return toolError("invalid arguments for describe_session: %v", err), nil
	}
	tool, _ := a.str("tool", false)
	var tools []string
	if tool != "" {
		if _, ok := s.models[tool]; !ok {
			return toolError("unknown tool %q; see list_models", tool), nil
		}
		tools = []string{tool}
	} else {
		for _, m := range s.opt.Models {
			tools = append(tools, m.Tool)
		}
	}
	type view struct {
		session.Key
		Model              string          `json:"model"`
		Calls              int             `json:"calls"`
		PreviousResponseID string          `json:"previous_response_id,omitempty"`
		HistoryMessages    int             `json:"history_messages"`
		InlineFiles        []string        `json:"inline_files"`
		VectorStoreIDs     []string        `json:"vector_store_ids,omitempty"`
		LastAttach         *session.Attach `json:"last_attach,omitempty"`
		VectorStore        any             `json:"vector_store,omitempty"` // live store state, when the vector-store layer knows it
		CreatedAt          string          `json:"created_at"`
		UpdatedAt          string          `json:"updated_at"`
		ExpiresAt          string          `json:"expires_at"`
	}
	var found []view
	for _, t := range tools {
		rec, ok, err := s.opt.Sessions.Get(ctx, session.Key{Project: s.project, Tool: t, SessionID: id})
		if err != nil {
			return toolError("%v", err), nil
		}
		if !ok {
			continue
		}
		v := view{Key: rec.Key, Model: rec.Model, Calls: rec.Calls, PreviousResponseID: rec.PreviousResponseID,
			HistoryMessages: len(rec.History), VectorStoreIDs: rec.VectorStoreIDs, LastAttach: rec.LastAttach, InlineFiles: []string{},
			CreatedAt: rec.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: rec.UpdatedAt.UTC().Format(time.RFC3339),
			ExpiresAt: rec.UpdatedAt.Add(s.opt.Sessions.TTL()).UTC().Format(time.RFC3339)}
		for p := range rec.Inline {
			v.InlineFiles = append(v.InlineFiles, p)
		}
		if d := s.opt.SessionStores; d != nil {
			if info, found, err := d.DescribeSession(ctx, s.project, t, id); err == nil && found {
				v.VectorStore = info
			}
		}
		sort.Strings(v.InlineFiles)
		found = append(found, v)
	}
	if len(found) == 0 {
		return toolError("no live session %q in project %s (it may have expired after %s)", id, s.project, s.opt.Sessions.TTL()), nil
	}
	return jsonResult(map[string]any{"sessions": found})
}

func (s *Server) searchHistory(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	q, err := a.str("query", true)
	if err != nil {
		return toolError("invalid arguments for search_project_history: %v", err), nil
	}
	n, err := a.integer("max_results", DefaultSearchResults)
	if err != nil {
		return toolError("invalid arguments for search_project_history: %v", err), nil
	}
	types, err := a.strs("store_types", false)
	if err == nil {
		// An unknown type must not silently search nothing.
		types, err = memory.NormalizeStoreTypes(types)
	}
	if err != nil {
		return toolError("invalid arguments for search_project_history: %v", err), nil
	}
	if r := s.opt.HistoryReports; r != nil {
		res, err := r.SearchHistoryReport(ctx, s.project, splitQueries(q), n, types)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return toolError("cannot search project history: %v", err), nil
		}
		out := map[string]any{"results": nonNil(res.Hits)}
		if len(res.MissingStores) > 0 {
			// Not an error: the other stores were searched.
			out["missing_stores"] = res.MissingStores
			out["note"] = "these memory stores no longer exist at the provider and were skipped (forgotten; new memories go to a new store)"
		}
		return jsonResult(out)
	}
	hits, err := s.opt.History.SearchHistory(ctx, s.project, splitQueries(q), n, types)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError("cannot search project history: %v", err), nil
	}
	return jsonResult(map[string]any{"results": nonNil(hits)})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) searchDebugLogs(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	q, err := a.str("query", true)
	if err != nil {
		return toolError("invalid arguments for search_mcp_debug_logs: %v", err), nil
	}
	n, err := a.integer("limit", 100)
	if err != nil {
		return toolError("invalid arguments for search_mcp_debug_logs: %v", err), nil
	}
	recs, err := s.opt.DebugLogs(ctx, q, n)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError("cannot query the debug logs: %v", err), nil
	}
	return jsonResult(map[string]any{"records": recs})
}

func splitQueries(q string) []string {
	var out []string
	for _, part := range strings.Split(q, ";") {
		if t := strings.TrimSpace(part); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func jsonResult(v any) (*mcp.CallToolResult, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return toolError("cannot encode result: %v", err), nil
	}
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(string(b))}, StructuredContent: v}, nil
}
