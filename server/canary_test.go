package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
)

// The canaries must really reproduce their bug, or the harness proves nothing.
func TestCanary_WorkerPoolBlocksPings(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{CanaryWorkerPool: true})
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

func TestCanary_HeldSemaphoreBlocksNextCall(t *testing.T) {
	project := newProject(t)
	fake, base := startFake(t)
	fake.SetFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(time.Hour)})
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) { o.CanaryHeldSemaphore = true })
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
