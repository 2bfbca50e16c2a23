package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// reportTestResult is a small run: one scenario whose heartbeat p99 is
// about p99MS.
func reportTestResult(t *testing.T, p99MS float64) *reports.Result {
	t.Helper()
	h := reports.NewHistogram()
	for i := 0; i < 1000; i++ {
		v := 0.5
		if i >= 985 {
			v = p99MS
		}
		reports.Record(h, time.Duration(v*float64(time.Millisecond)))
	}
	l, err := reports.NewLatencies(h)
	if err != nil {
		t.Fatal(err)
	}
	return &reports.Result{
		SchemaVersion: reports.SchemaVersion,
		Run:           reports.RunInfo{ID: "t", Verdict: reports.VerdictPass},
		Scenarios: []reports.Scenario{{
			Name: "back-to-back", Verdict: reports.VerdictPass, DurationMS: 20000,
			Phases: []reports.Phase{{Name: "baseline", EndMS: 20000, Ping: l}},
			Checks: []reports.Check{{Name: "heartbeat.ping.p99", Unit: "ms", Op: "<=", Threshold: 250, Value: l.P99, Pass: true}},
		}},
	}
}

func runRoot(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := exitOK
	if err != nil {
		code = exitUsage
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), code
}

func TestReportRerender(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	data, err := json.Marshal(reportTestResult(t, 40))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, reports.ResultFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runRoot(t, "report", dir)
	if code != exitOK || !strings.Contains(out, "1 scenarios, 1 pass") {
		t.Fatalf("report DIR: exit %d\n%s", code, out)
	}
	for _, name := range []string{reports.SummaryFile, reports.HTMLFile, reports.JUnitFile, "hlog/back-to-back.hlog"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("report DIR did not write %s: %v", name, err)
		}
	}
	// Given the result.json path and --out.
	other := filepath.Join(t.TempDir(), "again")
	if out, code := runRoot(t, "report", filepath.Join(dir, reports.ResultFile), "--out", other); code != exitOK {
		t.Fatalf("report FILE --out: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(other, reports.HTMLFile)); err != nil {
		t.Fatal(err)
	}
	if _, code := runRoot(t, "report", filepath.Join(dir, "missing")); code != exitUsage {
		t.Fatalf("missing DIR: exit %d, want %d", code, exitUsage)
	}
	if _, code := runRoot(t, "report"); code != exitUsage {
		t.Fatalf("no DIR: exit %d, want %d", code, exitUsage)
	}
}

func TestReportDiff(t *testing.T) {
	defer goleak.VerifyNone(t)
	write := func(r *reports.Result) string {
		dir := t.TempDir()
		if err := reports.WriteAll(dir, r); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	base := write(reportTestResult(t, 40))
	same := write(reportTestResult(t, 40))
	doubled := write(reportTestResult(t, 80))

	out, code := runRoot(t, "report", "diff", base, same)
	if code != exitOK || !strings.Contains(out, "no regression") {
		t.Fatalf("identical runs: exit %d\n%s", code, out)
	}
	out, code = runRoot(t, "report", "diff", base, doubled)
	if code != exitFail || !strings.Contains(out, "heartbeat.ping.p99") || !strings.Contains(out, "REGRESSION") {
		t.Fatalf("doubled p99: exit %d\n%s", code, out)
	}
	if _, code := runRoot(t, "report", "diff", base, doubled, "--tolerance", "1.5"); code != exitOK {
		t.Fatalf("doubled p99 with --tolerance 1.5: exit %d", code)
	}
	// The p99 row and the p99 check count; the p99.9 and max of 1,000 samples are noise.
	out, code = runRoot(t, "report", "diff", filepath.Join(base, reports.ResultFile), filepath.Join(doubled, reports.ResultFile), "--json", "--changed")
	if code != exitFail || !strings.Contains(out, `"regressions": 2`) || !strings.Contains(out, `"noise": 2`) {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	if _, code := runRoot(t, "report", "diff", base, filepath.Join(base, "nope")); code != exitUsage {
		t.Fatalf("unreadable NEW: exit %d, want %d", code, exitUsage)
	}
	if _, code := runRoot(t, "report", "diff", base, same, "--tolerance", "-1"); code != exitUsage {
		t.Fatalf("negative tolerance: exit %d, want %d", code, exitUsage)
	}
}
