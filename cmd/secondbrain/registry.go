package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/config"
)

// defaultModelTimeout bounds a configured model's call when it names none.
const defaultModelTimeout = 10 * time.Minute

// modelParameters are the optional parameters a configured model can offer.
var modelParameters = []string{"temperature", "reasoning_effort", "web_search"}

// reasoningEfforts are the reasoning_effort values providers know.
var reasoningEfforts = []string{"none", "minimal", "low", "medium", "high", "xhigh"}

// toolName is what MCP hosts accept as a tool name.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// buildModels is the registry serve runs with: the built-in models, each
// replaced by a configured model of the same tool name, then the other
// configured models in the file's order. A configured model that cannot
// work is an error naming the config file, the key and the value.
func buildModels(c config.Config) ([]server.Model, error) {
	eps, _ := c.Endpoints()
	reserved := server.UtilityTools()
	seen := map[string]int{}
	var errs []error
	configured := map[string]server.Model{}
	var order []string
	for i, mc := range c.Models {
		at := fmt.Sprintf("%s: models[%d]", configFileName(c), i)
		if mc.Tool != "" {
			at += " (" + mc.Tool + ")"
		}
		m, bad := modelFromConfig(mc, eps)
		if prev, dup := seen[mc.Tool]; dup && mc.Tool != "" {
			bad = append(bad, fmt.Errorf("tool %q is declared again (first at models[%d])", mc.Tool, prev))
		}
		if slices.Contains(reserved, mc.Tool) {
			bad = append(bad, fmt.Errorf("tool %q is a utility tool of the server; pick another name", mc.Tool))
		}
		for _, err := range bad {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
		if len(bad) > 0 {
			continue
		}
		seen[mc.Tool] = i
		configured[m.Tool] = m
		order = append(order, m.Tool)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []server.Model
	for _, m := range server.DefaultModels() {
		if cm, ok := configured[m.Tool]; ok {
			m = cm
			delete(configured, m.Tool)
		}
		out = append(out, m)
	}
	for _, tool := range order {
		if m, ok := configured[tool]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// modelFromConfig checks one configured model, every field, and builds
// it; each problem is one error naming its key.
func modelFromConfig(mc config.Model, eps map[string]config.Endpoint) (server.Model, []error) {
	var errs []error
	bad := func(key string, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if !toolName.MatchString(mc.Tool) {
		bad("tool", "%q is not a tool name (1–64 letters, digits, _ or -)", mc.Tool)
	}
	if strings.TrimSpace(mc.Model) == "" {
		bad("model", "required (the provider's model id)")
	}
	if _, ok := eps[mc.Provider]; !ok {
		bad("provider", "%q is neither built in (openai, gemini, xai, anthropic) nor declared under providers:", mc.Provider)
	}
	if mc.API != server.APIResponses && mc.API != server.APIChat {
		bad("api", "%q is not one of %s, %s", mc.API, server.APIResponses, server.APIChat)
	}
	if mc.Window <= 0 {
		bad("window", "must be > 0 tokens, got %d", mc.Window)
	}
	if mc.Timeout < 0 {
		bad("timeout", "must be >= 0 (0: %v), got %v", defaultModelTimeout, mc.Timeout)
	}
	if mc.Background && mc.API != server.APIResponses {
		bad("background", "only the responses API runs in the background")
	}
	m := server.Model{Tool: mc.Tool, Model: mc.Model, Provider: mc.Provider, API: mc.API, Window: mc.Window,
		Timeout: mc.Timeout, Description: mc.Description, Background: mc.Background, Images: mc.Images,
		Lineup: server.LineupConfigured}
	for _, p := range mc.Parameters {
		switch p {
		case "temperature":
			m.Temperature = true
		case "reasoning_effort":
			m.ReasoningEffort = true
		case "web_search":
			m.WebSearch = true
		default:
			bad("parameters", "%q is not one of %s", p, strings.Join(modelParameters, ", "))
		}
	}
	for _, e := range mc.ReasoningEfforts {
		if !slices.Contains(reasoningEfforts, e) {
			bad("reasoning_efforts", "%q is not one of %s", e, strings.Join(reasoningEfforts, ", "))
		}
	}
	if len(mc.ReasoningEfforts) > 0 {
		m.ReasoningEffort, m.Efforts = true, slices.Clone(mc.ReasoningEfforts)
	}
	if m.Timeout == 0 {
		m.Timeout = defaultModelTimeout
	}
	m.TimeoutSecs = int(m.Timeout / time.Second)
	if m.Description == "" {
		m.Description = fmt.Sprintf("%s via %s (%d tokens).", m.Model, m.Provider, m.Window)
	}
	return m, errs
}

// configFileName names where configured models come from.
func configFileName(c config.Config) string {
	if c.File == "" {
		return "config"
	}
	return c.File
}
