package probes

import (
	"strings"
	"testing"

	"github.com/secondbrain-dev/secondbrain/reports"
)

func TestJudgeCanary(t *testing.T) {
	d := &reports.Diagnosis{Cause: CauseStderrWrite, Culprit: "logship.(*stderrCore).writeSync (stderr.go:301)"}
	rs := []CanaryResult{
		JudgeCanary("sync-stderr", reports.VerdictFail, d, "stderrCore"),
		JudgeCanary("sync-log", reports.VerdictFail, d, ""),            // wrong cause
		JudgeCanary("worker-pool", reports.VerdictPass, nil, ""),       // not caught
		JudgeCanary("sync-stderr", reports.VerdictFail, d, "shipCore"), // wrong culprit
	}
	want := []bool{true, false, false, false}
	for i, r := range rs {
		if r.Pass() != want[i] {
			t.Errorf("#%d %+v pass=%v; want %v", i, r, r.Pass(), want[i])
		}
	}
	var b strings.Builder
	if err := WriteConfusion(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1/4 canaries caught and named") || !strings.Contains(b.String(), "worker-pool (worker-pool-exhausted)") {
		t.Errorf("table:\n%s", b.String())
	}
	t.Logf("\n%s", b.String())
}
