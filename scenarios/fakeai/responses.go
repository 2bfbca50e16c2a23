package fakeai

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"
)

type response struct {
	ID          string
	Model       string
	CreatedAt   time.Time
	Background  bool
	QueuedUntil time.Time
	ReadyAt     time.Time
	Cancelled   bool
	PreviousID  string
	Request     responseRequest
	Output      []any
	Usage       map[string]any
	Depth       int // responses before this one through previous_response_id
}

func (r *response) status(now time.Time) string {
	switch {
	case r.Cancelled:
		return "cancelled"
	case !r.Background:
		return "completed"
	case now.Before(r.QueuedUntil):
		return "queued"
	case now.Before(r.ReadyAt):
		return "in_progress"
	default:
		return "completed"
	}
}

type responseRequest struct {
	Model              string            `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       json.RawMessage   `json:"instructions"`
	PreviousResponseID string            `json:"previous_response_id"`
	Tools              json.RawMessage   `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	Background         bool              `json:"background"`
	Store              *bool             `json:"store"`
	Stream             bool              `json:"stream"`
	Metadata           map[string]string `json:"metadata"`
	MaxOutputTokens    *int64            `json:"max_output_tokens"`
	Reasoning          json.RawMessage   `json:"reasoning"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
}

type responseTool struct {
	Type           string   `json:"type"`
	Name           string   `json:"name"`
	VectorStoreIDs []string `json:"vector_store_ids"`
}

type responseItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	CallID  string          `json:"call_id"`
	Name    string          `json:"name"`
	Output  json.RawMessage `json:"output"`
}

// parseResponseRequest reduces a Responses request to a conversation.
func parseResponseRequest(req responseRequest) (*conversation, *apiError) {
	c := &conversation{api: "responses", model: req.Model, previousID: req.PreviousResponseID}
	c.instructions = contentText(req.Instructions)
	if len(req.Input) == 0 || string(req.Input) == "null" {
		return nil, missingParam("input")
	}
	var s string
	if err := json.Unmarshal(req.Input, &s); err == nil {
		c.items, c.lastUser = 1, s
		c.texts = append(c.texts, s)
	} else {
		var items []responseItem
		if err := json.Unmarshal(req.Input, &items); err != nil {
			return nil, badRequest("input", "Invalid 'input': expected a string or an array of input items.")
		}
		c.items = len(items)
		for _, it := range items {
			switch {
			case it.Type == "function_call_output":
				c.toolResults = append(c.toolResults, contentText(it.Output))
				c.turnResults++
			case it.Role != "":
				t := contentText(it.Content)
				c.texts = append(c.texts, t)
				c.images += contentImages(it.Content)
				if it.Role == "user" {
					c.lastUser, c.turnResults = t, 0
				}
			}
		}
	}
	if len(req.Tools) > 0 && string(req.Tools) != "null" {
		var tools []responseTool
		if err := json.Unmarshal(req.Tools, &tools); err != nil {
			return nil, badRequest("tools", "Invalid 'tools': expected an array of tool objects.")
		}
		for _, t := range tools {
			switch t.Type {
			case "function":
				if t.Name == "" {
					return nil, missingParam("tools[].name")
				}
				c.tools = append(c.tools, t.Name)
			case "file_search":
				if len(t.VectorStoreIDs) == 0 {
					return nil, missingParam("tools[].vector_store_ids")
				}
				c.storeIDs = append(c.storeIDs, t.VectorStoreIDs...)
			}
		}
	}
	return c, nil
}

// storeFilesLocked fills the echo's store fields, or reports an unknown store.
func (s *Server) storeFilesLocked(e *Echo, now time.Time) *apiError {
	for _, id := range e.VectorStoreIDs {
		vs, ok := s.stores[id]
		if !ok {
			return notFound("tools", "Vector store with id '%s' not found.", id)
		}
		vs.LastActiveAt = now
		for _, fid := range vs.order {
			if vs.files[fid].status(now) != "completed" {
				continue
			}
			e.StoreFiles++
			name := fid
			if f, ok := s.files[fid]; ok {
				name = f.Filename
			}
			e.StoreFileNames = append(e.StoreFileNames, name)
		}
	}
	return nil
}

func (s *Server) createResponse(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req responseRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	if req.Model == "" {
		return missingParam("model")
	}
	if req.Stream {
		return badRequest("stream", "fakeai does not stream the Responses API; use background mode and poll.")
	}
	conv, e := parseResponseRequest(req)
	if e != nil {
		return e
	}
	f := s.Faults()
	if err := s.wait(ctx, f.ResponseLatency.D()); err != nil {
		return nil
	}
	echo := conv.echo()
	now := s.clk.Now()

	s.mu.Lock()
	f = s.faults
	resp := &response{Model: req.Model, CreatedAt: now, Background: req.Background, PreviousID: req.PreviousResponseID, Request: req}
	if req.PreviousResponseID != "" {
		prev, ok := s.responses[req.PreviousResponseID]
		if !ok {
			s.mu.Unlock()
			return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "previous_response_id",
				Code: "previous_response_not_found", Message: "Previous response with id '" + req.PreviousResponseID + "' not found."}
		}
		resp.Depth = prev.Depth + 1
		echo.ChainDepth = resp.Depth
	}
	if e := s.storeFilesLocked(&echo, now); e != nil {
		s.mu.Unlock()
		return e
	}
	resp.ID = s.nextIDLocked("resp_")
	calls := conv.toolsToCall(f.CallsTools())
	var text string
	if len(calls) > 0 {
		args := conv.toolArguments()
		for _, name := range calls {
			resp.Output = append(resp.Output, map[string]any{"type": "function_call", "id": s.nextIDLocked("fc_"),
				"call_id": s.nextIDLocked("call_"), "name": name, "arguments": args, "status": "completed"})
		}
	} else {
		text = answerText(echo)
		resp.Output = []any{map[string]any{"type": "message", "id": s.nextIDLocked("msg_"), "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}, "logprobs": []any{}}}}}
	}
	in, out := echo.InputChars/4+1, utf8.RuneCountInString(text)/4+1
	resp.Usage = map[string]any{"input_tokens": in, "output_tokens": out, "total_tokens": in + out,
		"input_tokens_details": map[string]any{"cached_tokens": 0}, "output_tokens_details": map[string]any{"reasoning_tokens": 0}}
	if req.Background {
		d := f.ResponseDuration.D()
		resp.QueuedUntil, resp.ReadyAt = now.Add(d/10), now.Add(d)
		if d == 0 {
			// Create answers "queued"; the first poll sees it completed.
			resp.QueuedUntil, resp.ReadyAt = now, now
		}
	}
	if req.Store == nil || *req.Store || req.Background {
		s.responses[resp.ID] = resp
	}
	obj := resp.objectLocked(now)
	var remaining time.Duration
	if req.Background {
		obj["status"], obj["output"], obj["usage"], obj["completed_at"] = "queued", []any{}, nil, nil
		remaining = resp.ReadyAt.Sub(now)
	}
	s.mu.Unlock()
	s.pollAfter(w, remaining) // the model's time is upstream time (see getResponse)

	s.count("responses_created", 1)
	if req.Background {
		s.count("responses_background", 1)
	}
	if len(calls) > 0 {
		s.count("tool_calls_sent", int64(len(calls)))
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

// objectLocked renders the response as the API does at time now: output
// and usage only once completed.
func (r *response) objectLocked(now time.Time) map[string]any {
	st := r.status(now)
	var instructions any
	if len(r.Request.Instructions) > 0 {
		instructions = r.Request.Instructions
	}
	tools := r.Request.Tools
	if len(tools) == 0 || string(tools) == "null" {
		tools = json.RawMessage("[]")
	}
	var toolChoice any = "auto"
	if len(r.Request.ToolChoice) > 0 {
		toolChoice = r.Request.ToolChoice
	}
	var prev any
	if r.PreviousID != "" {
		prev = r.PreviousID
	}
	meta := r.Request.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	o := map[string]any{
		"id": r.ID, "object": "response", "created_at": r.CreatedAt.Unix(), "status": st,
		"background": r.Background, "error": nil, "incomplete_details": nil, "instructions": instructions,
		"max_output_tokens": r.Request.MaxOutputTokens, "metadata": meta, "model": r.Model,
		"output": []any{}, "parallel_tool_calls": r.Request.ParallelToolCalls == nil || *r.Request.ParallelToolCalls,
		"previous_response_id": prev, "reasoning": map[string]any{"effort": nil, "summary": nil},
		"store": true, "temperature": 1.0, "text": map[string]any{"format": map[string]any{"type": "text"}},
		"tool_choice": toolChoice, "tools": tools, "top_p": 1.0, "truncation": "disabled",
		"usage": nil, "completed_at": nil,
	}
	if st == "completed" {
		o["output"], o["usage"] = r.Output, r.Usage
		done := r.CreatedAt
		if r.Background {
			done = r.ReadyAt
		}
		o["completed_at"] = done.Unix()
	}
	return o
}

func responseNotFound(id string) *apiError {
	return notFound("", "Response with id '%s' not found.", id)
}

func (s *Server) getResponse(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().PollLatency.D()); err != nil {
		return nil
	}
	id := r.PathValue("id")
	now := s.clk.Now()
	s.mu.Lock()
	resp, ok := s.responses[id]
	var obj map[string]any
	var remaining time.Duration
	if ok {
		obj = resp.objectLocked(now)
		if resp.Background && obj["status"] != "completed" {
			remaining = resp.ReadyAt.Sub(now)
		}
	}
	s.mu.Unlock()
	if !ok {
		return responseNotFound(id)
	}
	s.count("polls", 1)
	s.count("responses_polled", 1)
	// The model's remaining time is the provider's, not the client's: the
	// hint puts it in the call's upstream time (Upstream).
	s.pollAfter(w, remaining)
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) cancelResponse(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	now := s.clk.Now()
	s.mu.Lock()
	resp, ok := s.responses[id]
	if !ok {
		s.mu.Unlock()
		return responseNotFound(id)
	}
	if !resp.Background {
		s.mu.Unlock()
		return badRequest("", "Only responses created with background=true can be cancelled.")
	}
	cancelled := false
	if st := resp.status(now); st == "queued" || st == "in_progress" {
		resp.Cancelled, cancelled = true, true
	}
	obj := resp.objectLocked(now)
	s.mu.Unlock()
	if cancelled {
		s.count("responses_cancelled", 1)
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) deleteResponse(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().DeleteLatency.D()); err != nil {
		return nil
	}
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.responses[id]
	delete(s.responses, id)
	s.mu.Unlock()
	if !ok {
		return responseNotFound(id)
	}
	s.count("responses_deleted", 1)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "response", "deleted": true})
	return nil
}
