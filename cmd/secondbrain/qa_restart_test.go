package main

import (
	"strings"
	"testing"
)

// QA: `serve --provider fake`, restart, continue a session: the restarted
// in-process fake has no stored responses; the call used to fail with
// "404 Not Found". Now it starts afresh, resends the files and says so.
func TestQA_ProviderFakeRestartContinues(t *testing.T) {
	e := newE2E(t, false)
	c, _ := e.stdioClient()
	checkConversation(t, c, e, "restart-1")
	c.Close()

	c2, _ := e.stdioClient()
	defer c2.Close()
	r := call(t, c2, "chat_with_o3", chat("restart-1", e.project))
	if r.IsError {
		t.Fatalf("continuing after a restart failed: %s", resultText(r))
	}
	ev, m := echo(t, r), meta(t, r)
	if !strings.Contains(m.SessionReset, "previous response expired at the provider") || ev.PreviousResponseID != "" {
		t.Errorf("session_reset %q, previous_response_id sent %q", m.SessionReset, ev.PreviousResponseID)
	}
	if got := sortedCopy(ev.InlinedFiles); got != strings.Join(wantInlined, ",") {
		t.Errorf("after the reset inlined %s, want every file %v", got, wantInlined)
	}
	// The next call continues from the new response.
	if ev2 := echo(t, call(t, c2, "chat_with_o3", chat("restart-1", e.project))); ev2.PreviousResponseID != m.ResponseID || len(ev2.InlinedFiles) != 0 {
		t.Errorf("then: previous %q (want %q), inlined %v", ev2.PreviousResponseID, m.ResponseID, ev2.InlinedFiles)
	}
}
