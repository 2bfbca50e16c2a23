package server

import "time"

// API styles of a model.
const (
	APIResponses = "responses" // OpenAI Responses API
	APIChat      = "chat"      // OpenAI-compatible chat completions
)

// Provider names: each has its own base URL and key.
const (
	ProviderOpenAI = "openai"
	ProviderGemini = "gemini"
	ProviderXAI    = "xai"
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
}

// DefaultModels is the registry, with the original server's tool names so its
// users can switch.
func DefaultModels() []Model {
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
		ms[i].TimeoutSecs = int(ms[i].Timeout / time.Second)
	}
	return ms
}

// budgetTokens is the inline budget: 85 % of the model's window.
func (m Model) budgetTokens() int { return m.Window * 85 / 100 }
