package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// chatParams are a chat tool call's arguments, parsed.
type chatParams struct {
	instructions, outputFormat, sessionID string
	context, priority, images             []string
	schemaText                            string
	schema                                *compiledSchema
	temperature                           *float64
	reasoningEffort                       string
	disableMemory                         bool
	searchMode                            string
	searchParams                          map[string]any
	returnCitations                       bool
}

// chatParam declares one parameter of the chat tools once: its schema in
// tools/list and how its argument is parsed into chatParams.
type chatParam struct {
	name string
	// when says which models offer it (nil: all).
	when func(Model) bool
	// rejectElsewhere: an argument for a model without it is an error
	// (not ignored).
	rejectElsewhere bool
	schema          func(name string, m Model) mcp.ToolOption
	parse           func(a args, name string, m Model, p *chatParams) error
}

var (
	reasoningEfforts = []string{"low", "medium", "high"}
	searchModes      = []string{"auto", "on", "off"}
)

// effortsOf are the reasoning_effort values model m takes.
func effortsOf(m Model) []string {
	if len(m.Efforts) > 0 {
		return m.Efforts
	}
	return reasoningEfforts
}

// searchModesOf are the search_mode values (the same for every model).
func searchModesOf(Model) []string { return searchModes }

// chatParamTable lists the chat tools' parameters in tools/list order.
var chatParamTable = []chatParam{
	strParam("instructions", "What you want the model to do.", true, func(p *chatParams) *string { return &p.instructions }),
	strParam("output_format", "How the answer should be formatted.", true, func(p *chatParams) *string { return &p.outputFormat }),
	listParam("context", "File and directory paths to include (may be empty). Directories are walked with .gitignore rules.", true,
		func(p *chatParams) *[]string { return &p.context }),
	{name: "session_id",
		schema: func(n string, _ Model) mcp.ToolOption {
			return mcp.WithString(n, mcp.Required(), mcp.Description("Conversation id; reuse it to continue."))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			if p.sessionID, err = a.str(n, true); err != nil {
				return err
			}
			return checkSessionID(p.sessionID)
		}},
	listParam("priority_context", "Paths that must be inlined (never sent to the vector store).", false,
		func(p *chatParams) *[]string { return &p.priority }),
	{name: "images", when: func(m Model) bool { return m.Images }, rejectElsewhere: true,
		schema: func(n string, _ Model) mcp.ToolOption {
			return mcp.WithArray(n, mcp.WithStringItems(),
				mcp.Description("Image files (PNG, JPEG, GIF, WebP; same path rules as context) sent with the message."))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			p.images, err = a.strs(n, false)
			return err
		}},
	{name: "structured_output_schema",
		schema: func(n string, _ Model) mcp.ToolOption {
			return mcp.WithString(n, mcp.Description("A JSON Schema (as a string); the answer must be JSON valid against it."))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			if p.schemaText, err = a.str(n, false); err != nil || strings.TrimSpace(p.schemaText) == "" {
				return err
			}
			p.schema, err = compileSchema(p.schemaText)
			return err
		}},
	boolParam("disable_memory_search", "Do not offer the project-history search to the model.", false,
		func(p *chatParams) *bool { return &p.disableMemory }),
	{name: "temperature", when: func(m Model) bool { return m.Temperature }, rejectElsewhere: true,
		schema: func(n string, _ Model) mcp.ToolOption {
			return mcp.WithNumber(n, mcp.Description("Sampling temperature (0–2)."))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			if p.temperature, err = a.number(n); err != nil || p.temperature == nil {
				return err
			}
			if t := *p.temperature; t < 0 || t > 2 {
				return fmt.Errorf("parameter %q must be between 0 and 2, got %v", n, t)
			}
			return nil
		}},
	enumParam("reasoning_effort", "", effortsOf, func(m Model) bool { return m.ReasoningEffort },
		func(p *chatParams) *string { return &p.reasoningEffort }),
	enumParam("search_mode", "Live web search (default off).", searchModesOf, func(m Model) bool { return m.WebSearch },
		func(p *chatParams) *string { return &p.searchMode }),
	{name: "search_parameters", when: func(m Model) bool { return m.WebSearch },
		schema: func(n string, _ Model) mcp.ToolOption {
			return mcp.WithObject(n, mcp.Description("xAI live-search parameters (object or JSON string)."))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			p.searchParams, err = a.object(n)
			return err
		}},
	{name: "return_citations", when: func(m Model) bool { return m.WebSearch },
		schema: func(n string, _ Model) mcp.ToolOption {
			return mcp.WithBoolean(n, mcp.Description("Return the search citations (default true when searching)."))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			p.returnCitations, err = a.boolean(n, true)
			return err
		}},
}

func strParam(name, desc string, required bool, dst func(*chatParams) *string) chatParam {
	return chatParam{name: name,
		schema: func(n string, _ Model) mcp.ToolOption {
			if required {
				return mcp.WithString(n, mcp.Required(), mcp.Description(desc))
			}
			return mcp.WithString(n, mcp.Description(desc))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			*dst(p), err = a.str(n, required)
			return err
		}}
}

func listParam(name, desc string, required bool, dst func(*chatParams) *[]string) chatParam {
	return chatParam{name: name,
		schema: func(n string, _ Model) mcp.ToolOption {
			if required {
				return mcp.WithArray(n, mcp.Required(), mcp.WithStringItems(), mcp.Description(desc))
			}
			return mcp.WithArray(n, mcp.WithStringItems(), mcp.Description(desc))
		},
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			*dst(p), err = a.strs(n, required)
			return err
		}}
}

func boolParam(name, desc string, def bool, dst func(*chatParams) *bool) chatParam {
	return chatParam{name: name,
		schema: func(n string, _ Model) mcp.ToolOption { return mcp.WithBoolean(n, mcp.Description(desc)) },
		parse: func(a args, n string, _ Model, p *chatParams) (err error) {
			*dst(p), err = a.boolean(n, def)
			return err
		}}
}

func enumParam(name, desc string, values func(Model) []string, when func(Model) bool, dst func(*chatParams) *string) chatParam {
	return chatParam{name: name, when: when,
		schema: func(n string, m Model) mcp.ToolOption {
			if desc == "" {
				return mcp.WithString(n, mcp.Enum(values(m)...))
			}
			return mcp.WithString(n, mcp.Enum(values(m)...), mcp.Description(desc))
		},
		parse: func(a args, n string, m Model, p *chatParams) error {
			v, err := a.str(n, false)
			if err != nil {
				return err
			}
			*dst(p) = v
			return oneOf(n, v, values(m)...)
		}}
}

// chatTool is model m's tool as tools/list shows it.
func chatTool(m Model) mcp.Tool {
	opts := []mcp.ToolOption{
		mcp.WithDescription(fmt.Sprintf("%s Context window %d tokens (85%% used for inline files, the rest goes to a searchable vector store); timeout %ds.",
			m.Description, m.Window, m.TimeoutSecs)),
	}
	for _, cp := range chatParamTable {
		if cp.when == nil || cp.when(m) {
			opts = append(opts, cp.schema(cp.name, m))
		}
	}
	return mcp.NewTool(m.Tool, opts...)
}

// parseChatParams parses a chat tool call's arguments for model m; every
// problem is reported, each naming its parameter.
func parseChatParams(m Model, a args) (*chatParams, error) {
	var p chatParams
	var errs []error
	for _, cp := range chatParamTable {
		switch {
		case cp.when == nil || cp.when(m):
			if err := cp.parse(a, cp.name, m, &p); err != nil {
				errs = append(errs, err)
			}
		case cp.rejectElsewhere && a.has(cp.name):
			errs = append(errs, fmt.Errorf("%s does not support %q", m.Tool, cp.name))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &p, nil
}
