package fakeai

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// EchoPrefix starts the echo line, the first line of every answer text.
const EchoPrefix = "fakeai-echo "

// Echo is what the fake saw in one model request. It is written as the first
// line of the answer text ([EchoPrefix] + one JSON object) and read back with
// [ParseEcho]. Character counts are Unicode code points (runes).
type Echo struct {
	// API is "responses" or "chat".
	API   string `json:"api"`
	Model string `json:"model"`
	// Images counts the image inputs of every message.
	Images int `json:"images,omitempty"`
	// InputChars counts all text that arrived: instructions, every
	// message's text (system, user, assistant) and every tool result.
	InputChars int `json:"input_chars"`
	// InputBytes is the same text measured in bytes.
	InputBytes int `json:"input_bytes"`
	// InstructionsChars counts the Responses API "instructions" alone.
	InstructionsChars int `json:"instructions_chars"`
	// Messages is the number of chat messages, or of Responses input items
	// (a plain string input counts as one).
	Messages int `json:"messages"`
	// PreviousResponseID is the Responses API previous_response_id, and
	// ChainDepth how many stored responses precede this one through it.
	PreviousResponseID string `json:"previous_response_id"`
	ChainDepth         int    `json:"chain_depth"`
	// VectorStoreIDs come from file_search tools, in order; StoreFiles and
	// StoreFileNames are the completed files of those stores when the
	// request arrived (names in store order, then attach order).
	VectorStoreIDs []string `json:"vector_store_ids"`
	StoreFiles     int      `json:"store_files"`
	StoreFileNames []string `json:"store_file_names"`
	// InlinedFiles are the path="…" attributes of every `<file ` tag in the
	// instructions and messages, in order of appearance.
	InlinedFiles []string `json:"inlined_files"`
	// Tools names the function tools offered.
	Tools []string `json:"tools"`
	// ToolResults counts tool results (chat "tool" messages, Responses
	// function_call_output items) and ToolResultChars their text.
	ToolResults     int `json:"tool_results"`
	ToolResultChars int `json:"tool_result_chars"`
	// ToolResultFiles are the files search results named
	// (<result file="…">, as a search function answers).
	ToolResultFiles []string `json:"tool_result_files,omitempty"`
	// LastUser is the start (≤ 80 runes) of the last user message.
	LastUser string `json:"last_user"`
}

// ErrNoEcho is returned by [ParseEcho] when the text holds no echo line.
var ErrNoEcho = errors.New("fakeai: no echo line in text")

// ParseEcho reads the echo line from an answer text. The line is normally
// the first; any line starting with [EchoPrefix] is accepted so callers may
// pass text that was wrapped or prefixed.
func ParseEcho(text string) (Echo, error) {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, EchoPrefix)
		if !ok {
			continue
		}
		var e Echo
		if err := json.Unmarshal([]byte(rest), &e); err != nil {
			return Echo{}, fmt.Errorf("cannot parse fakeai echo %q: %w", rest, err)
		}
		return e, nil
	}
	return Echo{}, ErrNoEcho
}

// String renders the echo line (without a trailing newline).
func (e Echo) String() string {
	for _, p := range []*[]string{&e.VectorStoreIDs, &e.StoreFileNames, &e.InlinedFiles, &e.Tools} {
		if *p == nil {
			*p = []string{}
		}
	}
	b, _ := json.Marshal(e) // strings and ints only: cannot fail
	return EchoPrefix + string(b)
}

var fileTagPath = regexp.MustCompile(`<file\s[^>]*?path="([^"]*)"`)

// inlinedPaths returns the path attributes of <file …> tags in order.
func inlinedPaths(texts ...string) []string {
	var out []string
	for _, t := range texts {
		if !strings.Contains(t, "<file") {
			continue
		}
		for _, m := range fileTagPath.FindAllStringSubmatch(t, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// resultFile finds the files a search function's results name.
var resultFile = regexp.MustCompile(`<result file="([^"]+)"`)

// conversation is a request of either API reduced to what the echo reports.
type conversation struct {
	api          string
	model        string
	instructions string
	texts        []string // every message text, in order
	items        int
	lastUser     string
	toolResults  []string // tool results of the current turn and before
	turnResults  int      // tool results after the last user message
	tools        []string // function tool names offered
	storeIDs     []string
	previousID   string
	images       int // image parts in the messages
}

func (c *conversation) echo() Echo {
	e := Echo{API: c.api, Model: c.model, Messages: c.items, PreviousResponseID: c.previousID,
		VectorStoreIDs: c.storeIDs, Tools: c.tools, ToolResults: len(c.toolResults), Images: c.images}
	e.InstructionsChars = utf8.RuneCountInString(c.instructions)
	e.InputChars, e.InputBytes = e.InstructionsChars, len(c.instructions)
	for _, t := range c.texts {
		e.InputChars += utf8.RuneCountInString(t)
		e.InputBytes += len(t)
	}
	for _, t := range c.toolResults {
		for _, m := range resultFile.FindAllStringSubmatch(t, -1) {
			e.ToolResultFiles = append(e.ToolResultFiles, m[1])
		}
		n := utf8.RuneCountInString(t)
		e.ToolResultChars += n
		e.InputChars += n
		e.InputBytes += len(t)
	}
	e.InlinedFiles = inlinedPaths(append([]string{c.instructions}, c.texts...)...)
	e.LastUser = truncateRunes(c.lastUser, 80)
	return e
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// contentText flattens a message content: a string, or parts with "text".
func contentText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// contentImages counts a message content's image parts: chat completions'
// image_url and the Responses API's input_image, each a URL or data URL.
func contentImages(raw json.RawMessage) int {
	var parts []struct {
		Type     string          `json:"type"`
		ImageURL json.RawMessage `json:"image_url"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return 0
	}
	n := 0
	for _, p := range parts {
		if (p.Type == "image_url" || p.Type == "input_image") && len(p.ImageURL) > 2 {
			n++
		}
	}
	return n
}

// answerText is the deterministic reply: the echo line, then a sentence a
// human can read in a transcript.
func answerText(e Echo) string {
	var b strings.Builder
	b.WriteString(e.String())
	fmt.Fprintf(&b, "\nFake answer from %s: received %d input chars in %d messages", e.Model, e.InputChars, e.Messages)
	if e.PreviousResponseID != "" {
		fmt.Fprintf(&b, ", continuing %s (chain depth %d)", e.PreviousResponseID, e.ChainDepth)
	}
	if len(e.VectorStoreIDs) > 0 {
		fmt.Fprintf(&b, ", searched %d vector stores holding %d files", len(e.VectorStoreIDs), e.StoreFiles)
	}
	if len(e.InlinedFiles) > 0 {
		fmt.Fprintf(&b, ", %d inlined files", len(e.InlinedFiles))
	}
	if e.ToolResults > 0 {
		fmt.Fprintf(&b, ", %d tool results (%d chars)", e.ToolResults, e.ToolResultChars)
	}
	b.WriteString(".\n")
	if e.LastUser != "" {
		fmt.Fprintf(&b, "You asked: %s\n", e.LastUser)
	}
	return b.String()
}

// toolTargets are the function tools the fake calls when offered.
var toolTargets = []string{"search_task_files", "search_project_history"}

// toolsToCall returns the offered target tools when the current turn has no
// tool result yet; nil means answer with text.
func (c *conversation) toolsToCall(enabled bool) []string {
	if !enabled || c.turnResults > 0 {
		return nil
	}
	var out []string
	for _, t := range toolTargets {
		for _, offered := range c.tools {
			if offered == t {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// toolArguments is the deterministic JSON argument of a tool call.
func (c *conversation) toolArguments() string {
	words := strings.Fields(c.lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	b, _ := json.Marshal(map[string]string{"query": strings.Join(words, " ")})
	return string(b)
}
