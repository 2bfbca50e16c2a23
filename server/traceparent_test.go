package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// A tools/call's _meta.traceparent reaches the provider on the requests the
// call makes: the fake API accounts them to the trace id. A call without
// one, or with an invalid one, sends none.
func TestTraceParent_ReachesProvider(t *testing.T) {
	fake, base := startFake(t)
	project := t.TempDir()
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "test-key")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	call := func(tp string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req := mcp.CallToolRequest{}
		req.Params.Name = "chat_with_gpt4_1"
		req.Params.Arguments = chatArgs("trace-1")
		if tp != "" {
			req.Params.Meta = &mcp.Meta{AdditionalFields: map[string]any{"traceparent": tp}}
		}
		res, err := e.c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("call with traceparent %q: %v %v", tp, err, res)
		}
	}
	call("00-" + traceID + "-00f067aa0ba902b7-01")
	got := fake.Upstream(traceID)
	if got.Requests == 0 || got.Busy <= 0 {
		t.Fatalf("upstream of the traced call = %+v, want its requests", got)
	}
	call("")
	call("00-" + traceID + "-0000000000000000-01") // a zero parent id is invalid: not passed on
	if again := fake.Upstream(traceID); again.Requests != got.Requests {
		t.Fatalf("untraced calls were accounted to the trace: %d requests, want %d", again.Requests, got.Requests)
	}
}
