package probes

import (
	"strings"
	"testing"

	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/faults"
)

// TestFaultCauses: every fault of the server's registry names a cause of
// this rule set, each its own.
func TestFaultCauses(t *testing.T) {
	known := map[string]bool{CauseLogShippingIO: true, CauseStderrWrite: true, CauseSemaphoreHeld: true, CauseWorkerPool: true,
		CauseConnPool: true, CauseBlockingFile: true, CauseGoroutineLeak: true, CauseRequestCPU: true, CauseLockHeld: true}
	seen := map[string]bool{}
	for _, f := range faults.All() {
		if !known[f.Cause] || seen[f.Cause] {
			t.Errorf("fault %s: cause %q (known %v, seen before %v)", f.Name, f.Cause, known[f.Cause], seen[f.Cause])
		}
		seen[f.Cause] = true
	}
}

func TestJudgeCanary(t *testing.T) {
	d := &reports.Diagnosis{Cause: CauseStderrWrite, Culprit: "logship.(*stderrCore).writeSync (stderr.go:301)"}
	stderr := faults.Fault{Name: "sync-stderr", Cause: CauseStderrWrite, Culprit: "logship."}
	rs := []CanaryResult{
		JudgeCanary(stderr, reports.VerdictFail, d),
		JudgeCanary(faults.Fault{Name: "sync-log", Cause: CauseLogShippingIO, Culprit: "logship."}, reports.VerdictFail, d),             // wrong cause
		JudgeCanary(faults.Fault{Name: "worker-pool", Cause: CauseWorkerPool, Culprit: "faults."}, reports.VerdictPass, nil),            // not caught
		JudgeCanary(faults.Fault{Name: "sync-stderr", Cause: CauseStderrWrite, Culprit: "logship.(*shipCore)"}, reports.VerdictFail, d), // wrong culprit
		JudgeCanary(faults.Fault{Name: "sync-stderr", Cause: CauseStderrWrite, Culprit: "stderrCore"}, reports.VerdictFail, d),          // a culprit is a prefix, not any substring
	}
	want := []bool{true, false, false, false, false}
	for i, r := range rs {
		if r.Pass() != want[i] {
			t.Errorf("#%d %+v pass=%v; want %v", i, r, r.Pass(), want[i])
		}
	}
	var b strings.Builder
	if err := WriteConfusion(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1/5 canaries caught and named") || !strings.Contains(b.String(), "worker-pool (worker-pool-exhausted)") {
		t.Errorf("table:\n%s", b.String())
	}
	t.Logf("\n%s", b.String())
}
