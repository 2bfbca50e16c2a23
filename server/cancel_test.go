package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A cancelled background call returns at once, is cancelled at the provider,
// gets no response, and the next call works.
func TestCancel_BackgroundResponseCancelledAtProvider(t *testing.T) {
	project := newProject(t)
	fake, base := startFake(t)
	fake.SetFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(time.Hour)})
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "chat_with_o3"
		req.Params.Arguments = chatArgs("c1", project)
		_, err := e.c.CallTool(ctx, req)
		errc <- err
	}()
	waitFor(t, "the background response to be polled", func() bool { return fake.Stats()["responses_polled"] >= 2 })
	cancel() // the mcp-go client sends notifications/cancelled over stdio
	if err := <-errc; err == nil {
		t.Error("cancelled call returned no error to the client")
	}
	waitFor(t, "the handler to return", func() bool {
		s := e.srv.Calls().Snapshot()
		return len(s.InFlight) == 0 && len(s.Recent) > 0
	})
	rec := e.srv.Calls().Snapshot().Recent[0]
	if rec.Outcome != server.OutcomeCancelled || rec.CancelToReturnMS == nil {
		t.Fatalf("call record %+v: want outcome cancelled with a cancel latency", rec)
	}
	t.Logf("cancel → handler returned: %.3f ms", *rec.CancelToReturnMS)
	if *rec.CancelToReturnMS > 1000 {
		t.Errorf("handler returned %.1f ms after the cancel; want well under 100 ms (1 s bound for a noisy machine)", *rec.CancelToReturnMS)
	}
	waitFor(t, "the provider-side cancel", func() bool { return fake.Stats()["responses_cancelled"] == 1 })
	waitFor(t, "the suppressed response to be counted", func() bool { return e.srv.Calls().Snapshot().SuppressedResponses == 1 })

	fake.SetFaults(fakeai.Faults{})
	if r := e.call("chat_with_o3", chatArgs("c2")); r.IsError {
		t.Errorf("call after cancel: %s", textOf(r))
	}
}

func TestProgress_LongCallSendsProgress(t *testing.T) {
	project := newProject(t)
	fake, base := startFake(t)
	fake.SetFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(800 * time.Millisecond)})
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) {
		o.ProgressInterval = 50 * time.Millisecond
	})
	var progress atomic.Int64
	e.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == "notifications/progress" {
			progress.Add(1)
		}
	})
	req := mcp.CallToolRequest{}
	req.Params.Name = "chat_with_o3"
	req.Params.Arguments = chatArgs("p1")
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	res, err := e.c.CallTool(context.Background(), req)
	if err != nil || res.IsError {
		t.Fatalf("call: %v %v", err, res)
	}
	// 800 ms at one notification per 50 ms: expect ~16; assert a generous floor.
	if n := progress.Load(); n < 3 {
		t.Errorf("%d progress notifications during an 800 ms call at 50 ms interval; want several", n)
	}
}

func TestTimeout_ToolDeadlineIsAClearError(t *testing.T) {
	project := newProject(t)
	fake, base := startFake(t)
	fake.SetFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(time.Hour)})
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k", func(o *server.Options) {
		o.Models = []server.Model{{Tool: "chat_quick", Model: "o3", Provider: server.ProviderOpenAI, API: server.APIResponses,
			Window: 200_000, Timeout: 200 * time.Millisecond, Background: true}}
	})
	r := e.call("chat_quick", chatArgs("t1"))
	if !r.IsError || !strings.Contains(textOf(r), "timed out after 200ms") {
		t.Errorf("got %q; want a timeout error", textOf(r))
	}
	if rec := e.srv.Calls().Snapshot().Recent[0]; rec.Outcome != server.OutcomeTimeout {
		t.Errorf("outcome %q, want timeout", rec.Outcome)
	}
	waitFor(t, "the timed-out response to be cancelled at the provider", func() bool { return fake.Stats()["responses_cancelled"] == 1 })
}
