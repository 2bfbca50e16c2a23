package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/server"
)

// statelessMeta is the _meta a 2026-07-28 client puts on every request in
// place of the initialize handshake.
func statelessMeta(extra map[string]any) map[string]any {
	m := map[string]any{
		mcp.MetaKeyProtocolVersion:    "2026-07-28",
		mcp.MetaKeyClientCapabilities: map[string]any{},
		mcp.MetaKeyClientInfo:         map[string]any{"name": "raw", "version": "0"},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Over stdio the server speaks both eras on one connection, with no
// initialize: a request that declares 2026-07-28 in its _meta is served
// statelessly (server/discover, no ping), one that declares nothing is a
// legacy request.
func TestStdio_StatelessProtocol(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{})
	tests := []struct {
		name     string
		method   string
		params   map[string]any
		wantCode int    // 0: a result
		wantIn   string // in the result
	}{
		{"discover", "server/discover", map[string]any{"_meta": statelessMeta(nil)}, 0, `"2026-07-28"`},
		{"ping is gone", "ping", map[string]any{"_meta": statelessMeta(nil)}, mcp.METHOD_NOT_FOUND, ""},
		{"legacy ping", "ping", nil, 0, `{}`},
		{"tools/list", "tools/list", map[string]any{"_meta": statelessMeta(nil)}, 0, `"slow"`},
		{"call", "tools/call", map[string]any{"name": "progress", "_meta": statelessMeta(map[string]any{"progressToken": "tok"})}, 0, `"resultType":"complete"`},
		{"nothing to listen to", "subscriptions/listen", map[string]any{"_meta": statelessMeta(nil), "notifications": map[string]any{"toolsListChanged": true}}, mcp.METHOD_NOT_FOUND, ""},
		{"no client capabilities", "tools/list", map[string]any{"_meta": map[string]any{mcp.MetaKeyProtocolVersion: "2026-07-28"}}, mcp.INVALID_PARAMS, ""},
		{"unknown version", "tools/list", map[string]any{"_meta": statelessMeta(map[string]any{mcp.MetaKeyProtocolVersion: "2099-01-01"})}, mcp.UNSUPPORTED_PROTOCOL_VERSION, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.request(tt.name, tt.method, tt.params)
			m, ok := c.wait(tt.name, 10*time.Second)
			switch {
			case !ok:
				t.Fatalf("%s: no answer", tt.method)
			case tt.wantCode != 0 && (m.Error == nil || m.Error.Code != tt.wantCode):
				t.Fatalf("%s: got %s / %+v, want error %d", tt.method, m.Result, m.Error, tt.wantCode)
			case tt.wantCode == 0 && m.Error != nil:
				t.Fatalf("%s: error %+v", tt.method, m.Error)
			case !strings.Contains(string(m.Result), tt.wantIn):
				t.Fatalf("%s: result %s lacks %s", tt.method, m.Result, tt.wantIn)
			}
		})
	}
	// The stateless call asked for progress: it gets it without any
	// handshake having marked the session initialized.
	deadline := time.Now().Add(10 * time.Second)
	for progressFor(c, "tok") < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := progressFor(c, "tok"); n != 3 {
		t.Errorf("got %d progress notifications for the stateless call, want 3", n)
	}
}

func progressFor(c *rawClient, token string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	for _, note := range c.notes {
		var p struct {
			Token string `json:"progressToken"`
		}
		if note.Method == "notifications/progress" && json.Unmarshal(note.Params, &p) == nil && p.Token == token {
			n++
		}
	}
	return n
}
