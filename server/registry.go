package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/config"
)

// API styles of a model.
const (
	APIResponses = "responses" // OpenAI Responses API
	APIChat      = "chat"      // OpenAI-compatible chat completions
)

// Built-in provider names: each has its own base URL and key. Any other
// OpenAI-compatible provider is configured by name (secondbrain.yaml).
// The names are configuration's, which keys endpoints by them.
const (
	ProviderOpenAI    = config.ProviderOpenAI
	ProviderGemini    = config.ProviderGemini
	ProviderXAI       = config.ProviderXAI
	ProviderAnthropic = config.ProviderAnthropic // through Anthropic's OpenAI-compatible endpoint
)

// Lineups a model belongs to (Model.Lineup).
const (
	LineupIncident   = "incident-era" // the original server's nine tools, replayed by the harness
	LineupCurrent    = "current"      // today's models
	LineupConfigured = "configured"   // added or overridden in secondbrain.yaml
)

// Model is one registry entry; each becomes one MCP tool.
type Model struct {
	Tool        string        `json:"tool"`
	Model       string        `json:"model"`    // provider's model id
	Provider    string        `json:"provider"` // ProviderOpenAI, ProviderGemini, ProviderXAI
	API         string        `json:"api"`      // APIResponses or APIChat
	Window      int           `json:"context_window_tokens"`
	Timeout     time.Duration `json:"-"`
	TimeoutSecs int           `json:"timeout_seconds"`
	Description string        `json:"description"`
	// Background: create the response in background mode and poll it (slow OpenAI models).
	Background bool `json:"background"`
	// Capabilities decide which optional parameters the tool offers.
	Temperature     bool `json:"supports_temperature"`
	ReasoningEffort bool `json:"supports_reasoning_effort"`
	WebSearch       bool `json:"supports_web_search"` // Grok live search parameters
	DeepResearch    bool `json:"deep_research"`
	// Efforts are the reasoning_effort values the model takes (nil: low,
	// medium, high).
	Efforts []string `json:"reasoning_efforts,omitempty"`
	Images  bool     `json:"supports_images"`
	Lineup  string   `json:"lineup"`
}

// DefaultModels is the built-in registry: the incident-era tools, with the
// original server's names so its users can switch, then the current
// lineup.
func DefaultModels() []Model {
	ms := append(incidentModels(), currentModels()...)
	for i := range ms {
		ms[i].TimeoutSecs = int(ms[i].Timeout / time.Second)
	}
	return ms
}

// incidentModels are the original server's nine tools, unchanged: the
// harness's catalog replays them.
func incidentModels() []Model {
	ms := []Model{
		{Tool: "chat_with_o3", Model: "o3", Provider: ProviderOpenAI, API: APIResponses, Window: 200_000, Timeout: 1800 * time.Second,
			Background: true, ReasoningEffort: true,
			Description: "Deep reasoning with OpenAI o3: architecture, tricky bugs, reviews. Pass the project files as context."},
		{Tool: "chat_with_o3_pro", Model: "o3-pro", Provider: ProviderOpenAI, API: APIResponses, Window: 200_000, Timeout: 2700 * time.Second,
			Background: true, ReasoningEffort: true,
			Description: "OpenAI o3-pro: the slowest, most thorough reasoning; for the hardest problems."},
		{Tool: "chat_with_gpt4_1", Model: "gpt-4.1", Provider: ProviderOpenAI, API: APIResponses, Window: 1_000_000, Timeout: 300 * time.Second,
			Temperature: true,
			Description: "OpenAI GPT-4.1 with a 1M-token window: fast answers over large codebases."},
		{Tool: "research_with_o3_deep_research", Model: "o3-deep-research", Provider: ProviderOpenAI, API: APIResponses, Window: 200_000, Timeout: 3600 * time.Second,
			Background: true, DeepResearch: true,
			Description: "OpenAI o3 deep research: long autonomous research (up to an hour)."},
		{Tool: "research_with_o4_mini_deep_research", Model: "o4-mini-deep-research", Provider: ProviderOpenAI, API: APIResponses, Window: 200_000, Timeout: 900 * time.Second,
			Background: true, DeepResearch: true,
			Description: "OpenAI o4-mini deep research: faster, cheaper research."},
		{Tool: "chat_with_gemini25_pro", Model: "gemini-2.5-pro", Provider: ProviderGemini, API: APIChat, Window: 1_000_000, Timeout: 600 * time.Second,
			Temperature: true, ReasoningEffort: true,
			Description: "Google Gemini 2.5 Pro (1M tokens): deep analysis of large codebases."},
		{Tool: "chat_with_gemini25_flash", Model: "gemini-2.5-flash", Provider: ProviderGemini, API: APIChat, Window: 1_000_000, Timeout: 300 * time.Second,
			Temperature: true, ReasoningEffort: true,
			Description: "Google Gemini 2.5 Flash (1M tokens): fast summaries and quick checks."},
		{Tool: "chat_with_grok4", Model: "grok-4", Provider: ProviderXAI, API: APIChat, Window: 256_000, Timeout: 600 * time.Second,
			Temperature: true, WebSearch: true,
			Description: "xAI Grok 4 (256k tokens), with optional live web search."},
		{Tool: "chat_with_grok3_reasoning", Model: "grok-3-mini", Provider: ProviderXAI, API: APIChat, Window: 131_072, Timeout: 900 * time.Second,
			Temperature: true, ReasoningEffort: true, WebSearch: true,
			Description: "xAI Grok 3 reasoning (131k tokens), with optional live web search."},
	}
	for i := range ms {
		ms[i].Lineup = LineupIncident
	}
	return ms
}

// currentModels is today's lineup. Ids, windows and parameters are the
// providers' own documentation's (December 2026):
//   - OpenAI model pages: gpt-5.2 and gpt-5.2-pro 400k tokens in, reasoning
//     effort, no temperature, image input; gpt-5.1-codex-max 400k, reasoning
//     effort, Responses API only.
//   - Google "Gemini 3" model pages and the OpenAI-compatibility page:
//     gemini-3-pro-preview and gemini-3-flash-preview 1,048,576 tokens in,
//     temperature 0–2, reasoning_effort, image input.
//   - Anthropic models overview and "OpenAI SDK compatibility": Claude Opus
//     4.5 (claude-opus-4-5-20251101) and Sonnet 4.5 (claude-sonnet-4-5-
//     20250929), 200k tokens in; the compatible endpoint takes temperature
//     (clamped to 0–1) and images and ignores reasoning_effort.
//   - xAI models page: grok-4-1-fast-reasoning, 2M tokens in, temperature,
//     image input; reasoning_effort is refused (the model reasons).
func currentModels() []Model {
	ms := []Model{
		{Tool: "chat_with_gpt52", Model: "gpt-5.2", Provider: ProviderOpenAI, API: APIResponses, Window: 400_000, Timeout: 3000 * time.Second,
			Background: true, ReasoningEffort: true, Images: true,
			Description: "OpenAI GPT-5.2 (400k tokens): OpenAI's flagship reasoning model for code and analysis."},
		{Tool: "chat_with_gpt52_pro", Model: "gpt-5.2-pro", Provider: ProviderOpenAI, API: APIResponses, Window: 400_000, Timeout: 3000 * time.Second,
			Background: true, ReasoningEffort: true, Images: true,
			Description: "OpenAI GPT-5.2 pro (400k tokens): more compute per answer, for the hardest problems; slow."},
		{Tool: "chat_with_gpt51_codex_max", Model: "gpt-5.1-codex-max", Provider: ProviderOpenAI, API: APIResponses, Window: 400_000, Timeout: 5400 * time.Second,
			Background: true, ReasoningEffort: true,
			Description: "OpenAI GPT-5.1 codex max (400k tokens): long agentic coding and code review."},
		{Tool: "chat_with_gemini3_pro_preview", Model: "gemini-3-pro-preview", Provider: ProviderGemini, API: APIChat, Window: 1_048_576, Timeout: 1800 * time.Second,
			Temperature: true, ReasoningEffort: true, Efforts: []string{"low", "high"}, Images: true,
			Description: "Google Gemini 3 Pro preview (1M tokens): deep analysis of large codebases."},
		{Tool: "chat_with_gemini3_flash_preview", Model: "gemini-3-flash-preview", Provider: ProviderGemini, API: APIChat, Window: 1_048_576, Timeout: 600 * time.Second,
			Temperature: true, ReasoningEffort: true, Images: true,
			Description: "Google Gemini 3 Flash preview (1M tokens): fast answers over large contexts."},
		{Tool: "chat_with_claude45_opus", Model: "claude-opus-4-5-20251101", Provider: ProviderAnthropic, API: APIChat, Window: 200_000, Timeout: 600 * time.Second,
			Temperature: true, Images: true,
			Description: "Anthropic Claude Opus 4.5 (200k tokens): careful reasoning, reviews and refactoring plans."},
		{Tool: "chat_with_claude45_sonnet", Model: "claude-sonnet-4-5-20250929", Provider: ProviderAnthropic, API: APIChat, Window: 200_000, Timeout: 600 * time.Second,
			Temperature: true, Images: true,
			Description: "Anthropic Claude Sonnet 4.5 (200k tokens): fast, strong coding help."},
		{Tool: "chat_with_grok41", Model: "grok-4-1-fast-reasoning", Provider: ProviderXAI, API: APIChat, Window: 2_000_000, Timeout: 600 * time.Second,
			Temperature: true, Images: true,
			Description: "xAI Grok 4.1 fast reasoning (2M tokens): very large contexts."},
	}
	for i := range ms {
		ms[i].Lineup = LineupCurrent
	}
	return ms
}

// checkModels refuses a registry the server cannot serve: a tool name used
// twice (or by a utility tool), an unknown API style, a window of no tokens.
func checkModels(ms []Model) error {
	seen := map[string]bool{}
	for _, u := range UtilityTools() {
		seen[u] = true
	}
	var errs []error
	for _, m := range ms {
		switch {
		case seen[m.Tool]:
			errs = append(errs, fmt.Errorf("model tool %q: the name is taken", m.Tool))
		case m.API != APIResponses && m.API != APIChat:
			errs = append(errs, fmt.Errorf("model tool %q: unknown API style %q", m.Tool, m.API))
		case m.Window <= 0:
			errs = append(errs, fmt.Errorf("model tool %q: context window %d", m.Tool, m.Window))
		}
		seen[m.Tool] = true
	}
	return errors.Join(errs...)
}

// budgetTokens is the inline budget: 85 % of the model's window.
func (m Model) budgetTokens() int { return m.Window * 85 / 100 }
