package config

import (
	"fmt"
	"strings"
	"time"
)

// Where overflow files go (Config.VectorStore).
const (
	VectorStoreAuto   = "auto"
	VectorStoreOpenAI = "openai"
	VectorStoreLocal  = "local"
	VectorStoreOff    = "off"
)

// VectorStoreMode is VectorStore normalised: auto, openai, local or off.
func (c *Config) VectorStoreMode() (string, error) {
	switch strings.ToLower(strings.TrimSpace(c.VectorStore)) {
	case "", VectorStoreAuto, "true":
		return VectorStoreAuto, nil
	case VectorStoreOpenAI:
		return VectorStoreOpenAI, nil
	case VectorStoreLocal:
		return VectorStoreLocal, nil
	case VectorStoreOff, "false":
		return VectorStoreOff, nil
	}
	return "", fmt.Errorf("vector_store must be auto, openai, local or off, got %q", c.VectorStore)
}

// DefaultAnthropicBaseURL is Anthropic's OpenAI-compatible endpoint.
const DefaultAnthropicBaseURL = "https://api.anthropic.com/v1/"

// Provider is an OpenAI-compatible provider configured by name in
// secondbrain.yaml (providers:), beside the built-in openai, gemini, xai and
// anthropic — e.g. a local Ollama or vLLM, OpenRouter, Azure.
type Provider struct {
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIKeyEnv names the environment variable holding the key; empty for
	// a server that needs none (a local Ollama).
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env"`
	// APIKey is read from APIKeyEnv by ApplyEnv; never written out.
	APIKey string `yaml:"-" json:"-"`
}

// Model is a model tool declared in secondbrain.yaml (models:): a new
// tool, or the built-in tool of the same name replaced.
type Model struct {
	Tool     string `yaml:"tool" json:"tool"`
	Model    string `yaml:"model" json:"model"`       // the provider's model id
	Provider string `yaml:"provider" json:"provider"` // a built-in provider or one under providers:
	// API is "responses" (OpenAI Responses API) or "chat" (chat
	// completions, what every OpenAI-compatible server offers).
	API    string `yaml:"api" json:"api"`
	Window int    `yaml:"window" json:"window"` // context window in tokens
	// Timeout bounds one call (0: 10 minutes).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Parameters the tool offers beyond the common ones: temperature,
	// reasoning_effort, web_search.
	Parameters []string `yaml:"parameters" json:"parameters"`
	// ReasoningEfforts are the reasoning_effort values the model takes
	// (default low, medium, high); setting them offers the parameter.
	ReasoningEfforts []string `yaml:"reasoning_efforts" json:"reasoning_efforts,omitempty"`
	Images           bool     `yaml:"images" json:"images"`         // takes image inputs
	Background       bool     `yaml:"background" json:"background"` // Responses API: create in background and poll
	Description      string   `yaml:"description" json:"description"`
}
