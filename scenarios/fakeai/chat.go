package fakeai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Tools         []chatTool    `json:"tools"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

func parseChatRequest(req chatRequest) (*conversation, *apiError) {
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "[] is too short - 'messages'")
	}
	c := &conversation{api: "chat", model: req.Model, items: len(req.Messages)}
	for i, m := range req.Messages {
		t := contentText(m.Content)
		switch m.Role {
		case "tool":
			if m.ToolCallID == "" {
				return nil, missingParam(fmt.Sprintf("messages.[%d].tool_call_id", i))
			}
			c.toolResults = append(c.toolResults, t)
			c.turnResults++
		case "user":
			c.texts = append(c.texts, t)
			c.images += contentImages(m.Content)
			c.lastUser, c.turnResults = t, 0
		case "system", "developer", "assistant", "function":
			c.texts = append(c.texts, t)
		default:
			return nil, badRequest(fmt.Sprintf("messages.[%d].role", i), "Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", m.Role)
		}
	}
	for i, t := range req.Tools {
		if t.Type == "function" {
			if t.Function.Name == "" {
				return nil, missingParam(fmt.Sprintf("tools[%d].function.name", i))
			}
			c.tools = append(c.tools, t.Function.Name)
		}
	}
	return c, nil
}

func (s *Server) chatCompletion(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req chatRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	if req.Model == "" {
		return missingParam("model")
	}
	conv, e := parseChatRequest(req)
	if e != nil {
		return e
	}
	if err := s.wait(ctx, s.Faults().ChatLatency.D()); err != nil {
		return nil
	}
	echo := conv.echo()
	s.mu.Lock()
	calls := conv.toolsToCall(s.faults.CallsTools())
	id := s.nextIDLocked("chatcmpl-")
	var toolCalls []map[string]any
	if len(calls) > 0 {
		args := conv.toolArguments()
		for _, name := range calls {
			toolCalls = append(toolCalls, map[string]any{"id": s.nextIDLocked("call_"), "type": "function",
				"function": map[string]any{"name": name, "arguments": args}})
		}
	}
	s.mu.Unlock()

	s.count("chat_completions", 1)
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
	finish := "stop"
	var text string
	if len(toolCalls) > 0 {
		msg["tool_calls"] = toolCalls
		finish = "tool_calls"
		s.count("tool_calls_sent", int64(len(toolCalls)))
	} else {
		text = answerText(echo)
		msg["content"] = text
	}
	in, out := echo.InputChars/4+1, utf8.RuneCountInString(text)/4+1
	usage := map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out}
	created := s.clk.Now().Unix()
	if req.Stream {
		s.streamChat(w, id, req, created, text, toolCalls, finish, usage)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "chat.completion", "created": created,
		"model": req.Model, "choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish, "logprobs": nil}},
		"usage": usage, "system_fingerprint": "fakeai"})
	return nil
}

// streamChat sends the same answer as server-sent events, one line of text
// per chunk, then the finish chunk, optional usage chunk and [DONE].
func (s *Server) streamChat(w http.ResponseWriter, id string, req chatRequest, created int64, text string,
	toolCalls []map[string]any, finish string, usage map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	send := func(choices []any, u any) {
		chunk := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model, "choices": choices}
		if u != nil {
			chunk["usage"] = u
		}
		b, _ := json.Marshal(chunk) // maps of strings and numbers: cannot fail
		_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	delta := func(d map[string]any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "finish_reason": nil, "logprobs": nil}}
	}
	send(delta(map[string]any{"role": "assistant", "content": ""}), nil)
	for line := range strings.Lines(text) {
		send(delta(map[string]any{"content": line}), nil)
	}
	for i, tc := range toolCalls {
		tc = map[string]any{"index": i, "id": tc["id"], "type": "function", "function": tc["function"]}
		send(delta(map[string]any{"tool_calls": []any{tc}}), nil)
	}
	send([]any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish, "logprobs": nil}}, nil)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send([]any{}, usage)
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
}
