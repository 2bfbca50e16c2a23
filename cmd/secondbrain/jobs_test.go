package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
)

// A job outlives its server: started, the server killed with SIGKILL while
// the model works on its background response, a new server on the same
// database picks the job up — polling that same response, not asking the
// model again — and poll_job returns the tool's result.
func TestE2E_JobSurvivesKill(t *testing.T) {
	verifyNoLeaks(t)
	e := newE2E(t, false)
	// The background response takes 2 s at the fake: the kill lands while
	// the job waits for it.
	fake := startFake(t, e, fakeai.Faults{ResponseDuration: fakeai.Duration(2 * time.Second)})
	s1 := e.startServer()
	var started struct {
		ID     string `json:"job_id"`
		Status string `json:"status"`
	}
	r := call(t, s1.c, "start_job", map[string]any{"tool": "chat_with_o3", "arguments": chat("job-1", e.project)})
	if err := json.Unmarshal([]byte(resultText(r)), &started); err != nil || started.ID == "" {
		t.Fatalf("start_job: %s (%v)", resultText(r), err)
	}
	type job struct {
		Status     string          `json:"status"`
		Progress   string          `json:"progress"`
		ResponseID string          `json:"response_id"`
		Attempts   int             `json:"attempts"`
		Result     json.RawMessage `json:"result"`
	}
	poll := func(p *sbProc) job {
		var j job
		if err := json.Unmarshal([]byte(resultText(call(t, p.c, "poll_job", map[string]any{"job_id": started.ID}))), &j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	waitFor(t, 10*time.Second, "the job to wait for its background response", func() bool {
		j := poll(s1)
		return j.Status == "running" && j.ResponseID != ""
	})
	if err := s1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = s1.c.Close()

	s2 := e.startServer()
	var done job
	waitFor(t, 30*time.Second, "the job to complete on the restarted server", func() bool {
		done = poll(s2)
		if done.Status == "failed" || done.Status == "cancelled" {
			t.Fatalf("job ended %s after the restart: %+v", done.Status, done)
		}
		return done.Status == "completed"
	})
	if st := fake.Stats(); st["responses_created"] != 1 || done.Attempts != 2 {
		t.Errorf("the model was asked %d times over %d runs; want once, the restarted run polling the same response",
			st["responses_created"], done.Attempts)
	}
	result := done.Result
	var res struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(result, &res); err != nil || res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].Text, "fakeai-echo") {
		t.Errorf("the resumed job's result: %s (%v)", result, err)
	}
	// Bad arguments are refused at once, not as a failed job.
	if r := call(t, s2.c, "start_job", map[string]any{"tool": "chat_with_o3", "arguments": map[string]any{"session_id": "x"}}); !r.IsError {
		t.Errorf("start_job with missing arguments: %s", resultText(r))
	}
}
