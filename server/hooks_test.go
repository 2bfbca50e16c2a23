package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/faults"
)

// newFaults switches faults on for one test; they stop when it ends (after
// the server, which the test's earlier cleanups stop).
func newFaults(t *testing.T, names ...string) *faults.Set {
	t.Helper()
	set, err := faults.New(names, clock.NewScaled(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	return set
}

// The faults must really reproduce their bug through the server's hooks,
// or the harness proves nothing: a dispatch hook that keeps the read loop
// waiting holds up pings.
func TestDispatchHook_WorkerPoolBlocksPings(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{Dispatch: newFaults(t, faults.WorkerPool)})
	c.initialize()
	c.request(1, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "a"}})
	ss.waitStarted(t, 1)
	c.request(2, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "b"}}) // waits for the one worker, on the read loop
	c.request("p", "ping", nil)
	if _, ok := c.wait("p", 300*time.Millisecond); ok {
		t.Fatal("ping answered while the worker-pool canary should block the read loop")
	}
	close(ss.release)
	if _, ok := c.wait("p", 10*time.Second); !ok {
		t.Fatal("ping not answered after the pool drained")
	}
}

// A model-call hook runs on every model call: one that never gives back a
// cancelled call's slot holds up the next call.
func TestModelCallHook_HeldSemaphoreBlocksNextCall(t *testing.T) {
	project := newProject(t)
	fake, base := startFake(t)
	fake.SetFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(time.Hour)})
	set := newFaults(t, faults.HeldSemaphore)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) { o.ModelCallHook = set })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := mcp.CallToolRequest{}
		req.Params.Name = "chat_with_o3"
		req.Params.Arguments = chatArgs("h1")
		_, _ = e.c.CallTool(ctx, req)
	}()
	waitFor(t, "the first call to poll", func() bool { return fake.Stats()["responses_polled"] >= 1 })
	cancel()
	<-done
	fake.SetFaults(fakeai.Faults{})
	cctx, ccancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer ccancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "chat_with_gpt4_1"
	req.Params.Arguments = chatArgs("h2")
	if _, err := e.c.CallTool(cctx, req); err == nil {
		t.Fatal("the next model call ran although the canary left the semaphore held")
	}
}
