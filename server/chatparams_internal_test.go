package server

import (
	"strings"
	"testing"
)

// Every parameter a chat tool shows in tools/list is parsed (a wrong type
// for it is refused, naming it), and the required ones are required: the
// schema and the parser come from one table.
func TestChatParams_schemaAndParserAgree(t *testing.T) {
	valid := func() args {
		return args{"instructions": "x", "output_format": "text", "context": []any{}, "session_id": "s"}
	}
	for _, m := range DefaultModels() {
		tool := chatTool(m)
		if _, err := parseChatParams(m, valid()); err != nil {
			t.Fatalf("%s: a valid call refused: %v", m.Tool, err)
		}
		for name := range tool.InputSchema.Properties {
			a := valid()
			a[name] = []any{map[string]any{"wrong": true}} // no parameter takes a list of objects
			_, err := parseChatParams(m, a)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: a wrong %q was not refused by name: %v", m.Tool, name, err)
			}
		}
		for _, name := range tool.InputSchema.Required {
			a := valid()
			delete(a, name)
			if _, err := parseChatParams(m, a); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: missing required %q not refused: %v", m.Tool, name, err)
			}
		}
	}
}
