package reports

import (
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	pass := Scenario{Name: "p", Verdict: VerdictPass}
	fail := Scenario{Name: "f", Verdict: VerdictFail}
	invalid := Scenario{Name: "i", Verdict: VerdictInvalid, Invalid: "prober send lag p99 3ms > 2ms"}
	broken := Scenario{Name: "b", Verdict: VerdictFail, Error: "server exited"}
	f := func(scs []Scenario, tolerate int, verdict string, exit int, tolerated bool) {
		t.Helper()
		o := Judge(scs, tolerate)
		if o.Verdict != verdict || o.Exit != exit || o.Tolerated != tolerated {
			t.Errorf("Judge(%v, %d) = %s/%d tolerated %v; want %s/%d tolerated %v",
				names(scs), tolerate, o.Verdict, o.Exit, o.Tolerated, verdict, exit, tolerated)
		}
		if (o.Exit == ExitPass) != (o.Err() == nil) {
			t.Errorf("Judge(%v): exit %d but Err() = %v", names(scs), o.Exit, o.Err())
		}
	}
	f(nil, 0, VerdictPass, ExitPass, false)
	f([]Scenario{pass, pass}, 0, VerdictPass, ExitPass, false)
	// A failure always wins, whatever else was invalid or could not run.
	f([]Scenario{pass, fail}, 0, VerdictFail, ExitFail, false)
	f([]Scenario{invalid, fail, invalid}, 0, VerdictFail, ExitFail, false)
	f([]Scenario{fail, invalid}, 5, VerdictFail, ExitFail, false)
	f([]Scenario{broken, fail}, 0, VerdictFail, ExitFail, false)
	f([]Scenario{broken, fail, invalid}, 0, VerdictFail, ExitFail, false)
	// Could not run beats invalid.
	f([]Scenario{broken, pass}, 0, VerdictFail, ExitBroken, false)
	f([]Scenario{invalid, broken}, 9, VerdictFail, ExitBroken, false)
	// Invalid: exit 3, unless few enough are tolerated; the verdict stays.
	f([]Scenario{pass, invalid}, 0, VerdictInvalid, ExitInvalid, false)
	f([]Scenario{invalid, invalid}, 0, VerdictInvalid, ExitInvalid, false)
	f([]Scenario{pass, invalid}, 1, VerdictInvalid, ExitPass, true)
	f([]Scenario{invalid, invalid, pass}, 1, VerdictInvalid, ExitInvalid, false)
	// A scenario without a verdict is judged from its checks.
	f([]Scenario{{Name: "c", Checks: []Check{{Name: "x", Pass: false}}}}, 0, VerdictFail, ExitFail, false)
}

func TestJudge_listsEachKindApart(t *testing.T) {
	o := Judge([]Scenario{
		{Name: "a", Verdict: VerdictFail},
		{Name: "b", Verdict: VerdictInvalid, Invalid: "lag"},
		{Name: "c", Verdict: VerdictFail, Error: "boom"},
		{Name: "d", Verdict: VerdictPass},
	}, 0)
	if strings.Join(o.Failed, ",") != "a" || strings.Join(o.Invalid, ",") != "b" ||
		strings.Join(o.Broken, ",") != "c" || strings.Join(o.Passed, ",") != "d" {
		t.Errorf("Judge lists failed %v invalid %v broken %v passed %v", o.Failed, o.Invalid, o.Broken, o.Passed)
	}
	msg := o.Err().Error()
	for _, want := range []string{"failed: a", "could not run: c", "invalid (the harness fell behind, nothing judged): b"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Err() = %q; want it to contain %q", msg, want)
		}
	}
}

func TestScenarioVerdict(t *testing.T) {
	f := func(sc Scenario, want string) {
		t.Helper()
		if got := ScenarioVerdict(&sc); got != want {
			t.Errorf("ScenarioVerdict(%+v) = %s; want %s", sc, got, want)
		}
	}
	f(Scenario{}, VerdictPass)
	f(Scenario{Checks: []Check{{Pass: true}}, Steps: []Step{{Pass: true}}}, VerdictPass)
	f(Scenario{Steps: []Step{{Pass: false}}}, VerdictFail)
	f(Scenario{Checks: []Check{{Pass: false}}}, VerdictFail)
	f(Scenario{Error: "x", Invalid: "lag"}, VerdictFail)
	// The watcher sets Invalid only when the failures are the prober's own
	// lateness.
	f(Scenario{Invalid: "lag", Checks: []Check{{Pass: false}}}, VerdictInvalid)
}

func TestMarkdown_headsFailAndListsEachKind(t *testing.T) {
	r := &Result{Run: RunInfo{Calibration: &Calibration{IntervalMS: 2,
		Kernel: Lateness{Clock: "clock_nanosleep", Samples: 500, P50MS: 0.04, P99MS: 0.09},
		Prober: Lateness{P50MS: 0.08, P99MS: 0.2}, GoTimer: Lateness{P50MS: 0.6, P99MS: 1.1}}},
		Scenarios: []Scenario{
			{Name: "good", Verdict: VerdictPass, Attempts: []Attempt{{Verdict: VerdictInvalid, Invalid: "prober send lag p99 2.5ms > 2ms"}}},
			{Name: "bad", Verdict: VerdictFail},
			{Name: "noisy", Verdict: VerdictInvalid, Invalid: "prober send lag p99 2.9ms > 2ms: the machine got busier"},
		}}
	if err := Summarize(r); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := NewMarkdownReporter(r)(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# secondbrain replay: FAIL",
		"- Failed: bad.",
		"- Invalid, not judged (the harness fell behind): noisy.",
		"clock_nanosleep wakes p50 0.04 ms, p99 0.09 ms late",
		"What to do:",
		"## Passed after invalid attempts",
		"attempt 1: invalid in 0.0 s — prober send lag p99 2.5ms > 2ms",
		"attempt 2: pass in 0.0 s (this result)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
}

func names(scs []Scenario) []string {
	var out []string
	for _, sc := range scs {
		out = append(out, sc.Name)
	}
	return out
}

// The one-line diagnosis never mixes rows: cause, frame, goroutines and
// wait are the culprit row's own.
func TestDiagnosisLine_oneRow(t *testing.T) {
	d := &Diagnosis{Cause: "semaphore-held", Culprit: "server.(*Server).acquireModelSlot (slot.go:58)",
		Frames: []Culprit{
			{Frame: "vectorstore.(*Manager).upload.func2 (upload.go:479)", Cause: "conn-pool", Goroutines: 0, WaitMS: 993.5},
			{Frame: "server.(*Server).acquireModelSlot (slot.go:58)", Cause: "semaphore-held", Goroutines: 3, WaitMS: 120},
		}}
	got := DiagnosisLine(d)
	want := "semaphore-held: server.(*Server).acquireModelSlot (slot.go:58) (3 goroutines waited 120.0 ms)"
	if got != want {
		t.Errorf("DiagnosisLine = %q\nwant            %q", got, want)
	}
	d.Culprit = ""
	if got := DiagnosisLine(d); !strings.HasPrefix(got, "conn-pool: vectorstore.(*Manager).upload.func2") || !strings.Contains(got, "993.5") {
		t.Errorf("without a culprit the top row speaks for itself; got %q", got)
	}
	d.Culprit, d.Frames = "x.y (a.go:1)", d.Frames[:1]
	if got := DiagnosisLine(d); strings.Contains(got, "waited") {
		t.Errorf("a culprit without its own row carries no other row's wait; got %q", got)
	}
}
