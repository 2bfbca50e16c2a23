package server

import (
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestLeadingID(t *testing.T) {
	big := strings.Repeat("x", 1000)
	cases := []struct {
		name, prefix, want string // want "" = nil (answer with a null id)
	}{
		{"number first", `{"id":777,"jsonrpc":"2.0","method":"ping","params":{"x":"` + big, `777`},
		{"string id", `{"jsonrpc":"2.0","id":"req-1","method":"tools/call","params":{"a":"` + big, `"req-1"`},
		{"escaped string id", `{"id":"a\"b\\","params":{`, `"a\"b\\"`},
		{"spaces", " { \"jsonrpc\" : \"2.0\" ,\n \"id\" : -12 , \"params\": [", `-12`},
		{"after small params", `{"params":{"id":5,"n":[1,{"id":6}],"s":"}\"id\":7"},"id":8,"method":"x","extra":"` + big, `8`},
		{"id inside params only", `{"jsonrpc":"2.0","params":{"id":5,"blob":"` + big, ``},
		{"params before id, cut", `{"method":"x","params":["` + big, ``},
		{"number cut by the prefix end", `{"id":12`, ``},
		{"string cut by the prefix end", `{"id":"abc`, ``},
		{"object id", `{"id":{"a":1},"params":{`, ``},
		{"null id", `{"id":null,"params":{`, ``},
		{"not an object", `[{"id":1}`, ``},
		{"garbage", `hello`, ``},
		{"empty", ``, ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(leadingID([]byte(tc.prefix)))
			if got != tc.want {
				t.Errorf("leadingID(%.60q) = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
}

func TestLogID(t *testing.T) {
	for raw, want := range map[string]string{`"abc"`: "abc", `"a\"b"`: `a"b`, `17`: "17", ``: "null"} {
		if got := logID([]byte(raw)); got != want {
			t.Errorf("logID(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestTidyError(t *testing.T) {
	in := mcp.JSONRPCError{JSONRPC: "2.0", Error: mcp.JSONRPCErrorDetails{Code: -32602, Message: "tool 'nope' not found: tool not found"}}
	out, ok := tidyError(in).(mcp.JSONRPCError)
	if !ok || out.Error.Message != `unknown tool "nope"; tools/list shows the tools of this server` || out.Error.Code != -32602 {
		t.Errorf("tidyError = %+v", out)
	}
	other := mcp.JSONRPCError{Error: mcp.JSONRPCErrorDetails{Code: -32603, Message: "boom"}}
	if got := tidyError(other).(mcp.JSONRPCError); got.Error.Message != "boom" {
		t.Errorf("other error changed: %+v", got)
	}
}
