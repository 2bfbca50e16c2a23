package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (and the checked-in screenshot)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// summarized is the fixture after Summarize, as WriteAll would render it.
func summarized(tb testing.TB) *Result {
	tb.Helper()
	r := syntheticResult(tb)
	if err := Summarize(r); err != nil {
		tb.Fatal(err)
	}
	return r
}

func render(tb testing.TB, rep Reporter) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := rep(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run go test ./reports -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the golden file at line %d:\n got: %q\nwant: %q\n(run go test ./reports -update if the change is intended)", name, i+1, g, w)
			}
		}
	}
}

func TestGolden(t *testing.T) {
	r := summarized(t)
	for _, tc := range []struct {
		file string
		rep  Reporter
	}{
		{"summary.golden.md", NewMarkdownReporter(r)},
		{"result.golden.json", NewJSONReporter(r)},
		{"junit.golden.xml", NewJUnitReporter(r)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			first := render(t, tc.rep)
			// Rendering twice must give the same bytes: no map order, no clock.
			if again := render(t, tc.rep); !bytes.Equal(first, again) {
				t.Fatal("two renderings of the same result differ")
			}
			golden(t, tc.file, first)
		})
	}
}

func TestResultJSONRoundTrip(t *testing.T) {
	r := summarized(t)
	first := render(t, NewJSONReporter(r))
	back, err := ReadResult(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if second := render(t, NewJSONReporter(back)); !bytes.Equal(first, second) {
		t.Fatal("result.json does not survive a decode/encode round trip")
	}
	if _, err := ReadResult(strings.NewReader(`{"schema_version": 99}`)); err == nil {
		t.Fatal("a newer schema_version was accepted")
	}
}

func TestNewLatencies(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ { // 1 ms … 1000 ms
		Record(h, time.Duration(i)*time.Millisecond)
	}
	l, err := NewLatencies(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 500}, {"p90", l.P90, 900}, {"p99", l.P99, 990}, {"p99.9", l.P999, 999}, {"max", l.Max, 1000}, {"mean", l.Mean, 500.5},
	} {
		// Three significant digits: within 0.1 %.
		if d := c.got - c.want; d < -0.001*c.want || d > 0.001*c.want+0.001 {
			t.Errorf("%s = %v, want %v ±0.1%%", c.name, c.got, c.want)
		}
	}
	if l.Count != 1000 || l.Hist == "" {
		t.Fatalf("count %d, hist %q", l.Count, l.Hist)
	}
	back, err := l.Histogram()
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equals(h) {
		t.Fatal("decoded histogram differs from the recorded one")
	}
	empty, err := NewLatencies(nil)
	if err != nil || empty.Count != 0 || empty.Hist != "" {
		t.Fatalf("NewLatencies(nil) = %+v, %v", empty, err)
	}
	if _, err := (&Latencies{Count: 3, P99: 1}).Histogram(); !errors.Is(err, ErrNoHistogram) {
		t.Fatalf("percentiles without a histogram: err = %v, want ErrNoHistogram", err)
	}
}

func TestRecordClamps(t *testing.T) {
	h := NewHistogram()
	Record(h, 0)
	Record(h, 2*time.Hour)
	if h.TotalCount() != 2 {
		t.Fatalf("count %d, want 2: out-of-range values must be clamped, not lost", h.TotalCount())
	}
	if h.Max() < int64(59*time.Minute) {
		t.Fatalf("max %v, want about 1h", time.Duration(h.Max()))
	}
}

func latenciesMS(t *testing.T, ms ...float64) *Latencies {
	t.Helper()
	h := NewHistogram()
	for _, v := range ms {
		Record(h, time.Duration(v*float64(time.Millisecond)))
	}
	l, err := NewLatencies(h)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestMergeLatencies(t *testing.T) {
	a := latenciesMS(t, 1, 2, 3)
	a.Errors = 1
	b := latenciesMS(t, 100)
	b.Cancelled = 2
	m, err := MergeLatencies(a, nil, &Latencies{}, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 4 || m.Errors != 1 || m.Cancelled != 2 {
		t.Fatalf("merged count/errors/cancelled = %d/%d/%d, want 4/1/2", m.Count, m.Errors, m.Cancelled)
	}
	if m.Max < 99.9 || m.Max > 100.1 || m.P50 < 1.99 || m.P50 > 2.01 {
		t.Fatalf("merged max %v p50 %v, want 100 and 2", m.Max, m.P50)
	}
	if _, err := MergeLatencies(a, &Latencies{Count: 5, P99: 3}); !errors.Is(err, ErrNoHistogram) {
		t.Fatalf("merging percentiles without a histogram: err = %v, want ErrNoHistogram", err)
	}
}

func TestStepAndToolLatencies(t *testing.T) {
	steps := []Step{
		{Kind: "call", Tool: "consult", LatencyMS: 10, Outcome: OutcomeOK, Phase: "a"},
		{Kind: "call", Tool: "consult", LatencyMS: 20, Outcome: OutcomeError, Phase: "b"},
		{Kind: "concurrent", Tool: "consult", LatencyMS: 5, Outcome: OutcomeCancelled, Phase: "b"},
		{Kind: "cancel", LatencyMS: 2, Outcome: OutcomeOK, Phase: "b", CancelMS: 3},
		{Kind: "call", Tool: "sessions", LatencyMS: 1, Outcome: OutcomeTimeout, Phase: "b"},
		{Kind: "gap", LatencyMS: 180000, Outcome: OutcomeOK, Phase: "b"},
		{Kind: "call", Tool: "consult", Outcome: OutcomeSkipped, Phase: "b"},
	}
	tools, err := ToolLatencies(steps)
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, count, errs, cancelled int64) {
		t.Helper()
		l := tools[name]
		if l == nil {
			t.Fatalf("no latencies for tool %q", name)
		}
		if l.Count != count || l.Errors != errs || l.Cancelled != cancelled {
			t.Fatalf("tool %q: count/errors/cancelled = %d/%d/%d; want %d/%d/%d", name, l.Count, l.Errors, l.Cancelled, count, errs, cancelled)
		}
	}
	f("consult", 3, 1, 1)
	f("sessions", 1, 1, 0)
	if len(tools) != 2 {
		t.Fatalf("tools %v, want consult and sessions", tools)
	}
	phaseB, err := StepLatencies(steps, func(s Step) bool { return s.Phase == "b" })
	if err != nil {
		t.Fatal(err)
	}
	if phaseB.Count != 3 || phaseB.Max > 20.1 {
		t.Fatalf("phase b: count %d max %v; want 3 calls, gaps excluded", phaseB.Count, phaseB.Max)
	}
	none, err := StepLatencies(steps, func(s Step) bool { return s.Phase == "zzz" })
	if err != nil || none != nil {
		t.Fatalf("no matching step: %v, %v; want nil, nil", none, err)
	}
}

func TestSummarize(t *testing.T) {
	r := &Result{Scenarios: []Scenario{{
		Name: "s",
		Phases: []Phase{
			{Name: "baseline", Ping: latenciesMS(t, 1, 1, 1)},
			{Name: "fault", Ping: latenciesMS(t, 2, 500)},
		},
		Steps:  []Step{{Kind: "call", Tool: "consult", Phase: "fault", LatencyMS: 7, Outcome: OutcomeOK, Pass: true}},
		Checks: []Check{{Name: "c", Pass: false}},
	}}}
	if err := Summarize(r); err != nil {
		t.Fatal(err)
	}
	sc := r.Scenarios[0]
	if sc.Heartbeat == nil || sc.Heartbeat.Ping.Count != 5 || sc.Heartbeat.Ping.Max < 499 {
		t.Fatalf("heartbeat not merged from the phases: %+v", sc.Heartbeat)
	}
	if sc.Heartbeat.HistFile != "hlog/s.hlog" {
		t.Fatalf("HistFile = %q", sc.Heartbeat.HistFile)
	}
	if sc.Phases[1].ToolCalls == nil || sc.Phases[1].ToolCalls.Count != 1 || sc.Phases[0].ToolCalls != nil {
		t.Fatalf("phase tool calls: %+v / %+v", sc.Phases[0].ToolCalls, sc.Phases[1].ToolCalls)
	}
	if sc.Tools["consult"] == nil || sc.Verdict != VerdictFail || r.Run.Verdict != VerdictFail || r.SchemaVersion != SchemaVersion {
		t.Fatalf("tools %v verdict %q run %q schema %d", sc.Tools, sc.Verdict, r.Run.Verdict, r.SchemaVersion)
	}
	before := render(t, NewJSONReporter(r))
	if err := Summarize(r); err != nil {
		t.Fatal(err)
	}
	if after := render(t, NewJSONReporter(r)); !bytes.Equal(before, after) {
		t.Fatal("Summarize is not idempotent")
	}
}

// JUnit XML as CI systems read it (the Jenkins/Ant schema that GitLab and
// GitHub's test reporters also follow), decoded independently of the writer's types.
type xTestsuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     *string      `xml:"name,attr"`
	Tests    *string      `xml:"tests,attr"`
	Failures *string      `xml:"failures,attr"`
	Errors   *string      `xml:"errors,attr"`
	Time     *string      `xml:"time,attr"`
	Suites   []xTestsuite `xml:"testsuite"`
}

type xTestsuite struct {
	Name      *string     `xml:"name,attr"`
	Tests     *string     `xml:"tests,attr"`
	Failures  *string     `xml:"failures,attr"`
	Errors    *string     `xml:"errors,attr"`
	Skipped   *string     `xml:"skipped,attr"`
	Time      *string     `xml:"time,attr"`
	Timestamp *string     `xml:"timestamp,attr"`
	Cases     []xTestcase `xml:"testcase"`
	Props     []struct {
		Name  *string `xml:"name,attr"`
		Value *string `xml:"value,attr"`
	} `xml:"properties>property"`
}

type xTestcase struct {
	Name      *string   `xml:"name,attr"`
	Classname *string   `xml:"classname,attr"`
	Time      *string   `xml:"time,attr"`
	Failure   *xProblem `xml:"failure"`
	Error     *xProblem `xml:"error"`
	Skipped   *xProblem `xml:"skipped"`
}

type xProblem struct {
	Message *string `xml:"message,attr"`
	Type    *string `xml:"type,attr"`
	Text    string  `xml:",chardata"`
}

func requireAttr(t *testing.T, where, name string, v *string) string {
	t.Helper()
	if v == nil {
		t.Fatalf("%s: required attribute %q missing", where, name)
	}
	return *v
}

func requireInt(t *testing.T, where, name string, v *string) int {
	t.Helper()
	n, err := strconv.Atoi(requireAttr(t, where, name, v))
	if err != nil || n < 0 {
		t.Fatalf("%s: attribute %s=%q is not a non-negative integer", where, name, *v)
	}
	return n
}

func requireSeconds(t *testing.T, where string, v *string) {
	t.Helper()
	f, err := strconv.ParseFloat(requireAttr(t, where, "time", v), 64)
	if err != nil || f < 0 {
		t.Fatalf("%s: time=%q is not a non-negative decimal", where, *v)
	}
}

func TestJUnitSchema(t *testing.T) {
	r := summarized(t)
	out := render(t, NewJUnitReporter(r))
	if !bytes.HasPrefix(out, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Fatal("missing XML declaration")
	}
	var doc xTestsuites
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("junit.xml is not well-formed: %v", err)
	}
	requireAttr(t, "testsuites", "name", doc.Name)
	requireSeconds(t, "testsuites", doc.Time)
	var tests, failures, errs int
	if len(doc.Suites) != len(r.Scenarios) {
		t.Fatalf("%d testsuites, want one per scenario (%d)", len(doc.Suites), len(r.Scenarios))
	}
	for i, s := range doc.Suites {
		where := "testsuite " + strconv.Itoa(i)
		name := requireAttr(t, where, "name", s.Name)
		if name != r.Scenarios[i].Name {
			t.Fatalf("%s: name %q, want %q", where, name, r.Scenarios[i].Name)
		}
		nt := requireInt(t, where, "tests", s.Tests)
		nf := requireInt(t, where, "failures", s.Failures)
		ne := requireInt(t, where, "errors", s.Errors)
		ns := requireInt(t, where, "skipped", s.Skipped)
		requireSeconds(t, where, s.Time)
		if _, err := time.Parse("2006-01-02T15:04:05", requireAttr(t, where, "timestamp", s.Timestamp)); err != nil {
			t.Fatalf("%s: timestamp: %v", where, err)
		}
		var cf, ce, cs int
		for j, c := range s.Cases {
			cw := where + " testcase " + strconv.Itoa(j)
			requireAttr(t, cw, "name", c.Name)
			requireAttr(t, cw, "classname", c.Classname)
			requireSeconds(t, cw, c.Time)
			if c.Failure != nil {
				cf++
				requireAttr(t, cw+" failure", "message", c.Failure.Message)
			}
			if c.Error != nil {
				ce++
				requireAttr(t, cw+" error", "message", c.Error.Message)
			}
			if c.Skipped != nil {
				cs++
			}
		}
		if nt != len(s.Cases) || nf != cf || ne != ce || ns != cs {
			t.Fatalf("%s: counts tests/failures/errors/skipped = %d/%d/%d/%d, testcases say %d/%d/%d/%d", where, nt, nf, ne, ns, len(s.Cases), cf, ce, cs)
		}
		if nt != len(r.Scenarios[i].Checks) && !(r.Scenarios[i].Verdict == VerdictFail && nf == 0) {
			t.Fatalf("%s: %d testcases, want one per check (%d)", where, nt, len(r.Scenarios[i].Checks))
		}
		tests, failures, errs = tests+nt, failures+nf, errs+ne
	}
	if requireInt(t, "testsuites", "tests", doc.Tests) != tests || requireInt(t, "testsuites", "failures", doc.Failures) != failures || requireInt(t, "testsuites", "errors", doc.Errors) != errs {
		t.Fatal("testsuites totals do not add up")
	}

	// The failing scenario's failures carry the diagnosis; the invalid
	// scenario's checks are skipped, not failed; the passing one has none.
	fail, pass, invalid := doc.Suites[0], doc.Suites[1], doc.Suites[2]
	if *pass.Failures != "0" || *pass.Skipped != "0" {
		t.Fatalf("passing scenario: failures=%s skipped=%s", *pass.Failures, *pass.Skipped)
	}
	if *fail.Failures != "4" {
		t.Fatalf("failing scenario: failures=%s, want 4", *fail.Failures)
	}
	for _, c := range fail.Cases {
		if c.Failure != nil && !strings.Contains(c.Failure.Text, "(*StderrHandler).Handle (stderr.go:71)") {
			t.Fatalf("failure of %q does not carry the diagnosis:\n%s", *c.Name, c.Failure.Text)
		}
	}
	if *invalid.Failures != "0" || *invalid.Skipped != "2" {
		t.Fatalf("invalid scenario: failures=%s skipped=%s, want 0 and 2", *invalid.Failures, *invalid.Skipped)
	}
}

func TestJUnitHarnessErrorAndStepFailure(t *testing.T) {
	r := &Result{Scenarios: []Scenario{
		{Name: "broken", Verdict: VerdictFail, Error: "cannot start server: exec: not found"},
		{Name: "steps", Verdict: VerdictFail, Checks: []Check{{Name: "c", Pass: true}},
			Steps: []Step{{Index: 2, Kind: "call", Tool: "consult", Outcome: OutcomeError, Expected: OutcomeOK}}},
	}}
	var doc xTestsuites
	if err := xml.Unmarshal(render(t, NewJUnitReporter(r)), &doc); err != nil {
		t.Fatal(err)
	}
	if *doc.Suites[0].Errors != "1" || *doc.Suites[0].Tests != "1" {
		t.Fatalf("harness error: errors=%s tests=%s", *doc.Suites[0].Errors, *doc.Suites[0].Tests)
	}
	s := doc.Suites[1]
	if *s.Failures != "1" || *s.Tests != "2" || !strings.Contains(*s.Cases[1].Failure.Message, "step 2 consult error (expected ok)") {
		t.Fatalf("a failed step without a failing check must still fail in JUnit: %+v", s)
	}
}

func TestHlogRoundTrip(t *testing.T) {
	r := summarized(t)
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		t.Run(sc.Name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteHlog(&buf, sc); err != nil {
				t.Fatal(err)
			}
			rd := hdrhistogram.NewHistogramLogReader(&buf)
			type want struct {
				tag     string
				l       *Latencies
				startMS float64
			}
			var wants []want
			for _, p := range sc.Phases {
				wants = append(wants, want{"", p.Ping, p.StartMS}, want{HlogTagNoop, p.NoopTool, p.StartMS})
				if p.ToolCalls != nil {
					wants = append(wants, want{HlogTagTools, p.ToolCalls, p.StartMS})
				}
			}
			for _, l := range sc.Loads {
				for _, lt := range l.Tools {
					wants = append(wants, want{"load." + l.Name + "." + lt.Name, lt.Latency, l.StartMS},
						want{"load." + l.Name + "." + lt.Name + ".raw", lt.Service, l.StartMS})
				}
			}
			for j, w := range wants {
				h, err := rd.NextIntervalHistogram()
				if err != nil || h == nil {
					t.Fatalf("interval %d: %v, %v", j, h, err)
				}
				orig, err := w.l.Histogram()
				if err != nil {
					t.Fatal(err)
				}
				if h.Tag() != w.tag || !h.Equals(orig) {
					t.Fatalf("interval %d: tag %q count %d, want tag %q count %d", j, h.Tag(), h.TotalCount(), w.tag, orig.TotalCount())
				}
				wantStart := sc.StartedAt.UnixMilli() + int64(w.startMS)
				if d := h.StartTimeMs() - wantStart; d < -1 || d > 1 {
					t.Fatalf("interval %d starts at %d ms, want %d", j, h.StartTimeMs(), wantStart)
				}
			}
			if h, err := rd.NextIntervalHistogram(); h != nil || err != nil {
				t.Fatalf("extra interval after the phases and loads: %v", err)
			}
		})
	}
}

func TestHlogWholeScenario(t *testing.T) {
	// A producer that only fills the scenario heartbeat still gets a log.
	sc := &Scenario{Name: "a b,c", DurationMS: 5000, Heartbeat: &Heartbeat{Ping: latenciesMS(t, 1, 2, 3)}}
	var buf bytes.Buffer
	if err := WriteHlog(&buf, sc); err != nil {
		t.Fatal(err)
	}
	h, err := hdrhistogram.NewHistogramLogReader(&buf).NextIntervalHistogram()
	if err != nil || h == nil || h.TotalCount() != 3 {
		t.Fatalf("whole-scenario interval: %v, %v", h, err)
	}
	if got := HlogPath(sc.Name); got != "hlog/a_b_c.hlog" {
		t.Fatalf("HlogPath = %q", got)
	}
	var hgrm bytes.Buffer
	if err := WriteHgrm(&hgrm, sc); err != nil || !strings.Contains(hgrm.String(), "1/(1-Percentile)") {
		t.Fatalf("hgrm: %v\n%s", err, hgrm.String())
	}
}

func TestWriteAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	r := syntheticResult(t)
	if err := WriteAll(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ResultFile, SummaryFile, HTMLFile, JUnitFile,
		"hlog/back-to-back.hlog", "hlog/back-to-back.hgrm", "hlog/stderr-backpressure.hlog", "hlog/gap-sweep.hlog", "hlog/many-hosts.hlog"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v (size %d)", name, err, fi.Size())
		}
		if fi.Mode().Perm() != 0o644 {
			t.Fatalf("%s: mode %v, want 0644", name, fi.Mode().Perm())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
	// Re-rendering from the written result.json gives the same files.
	back, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "again")
	if err := WriteAll(dir2, back); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ResultFile, SummaryFile, HTMLFile, JUnitFile, "hlog/stderr-backpressure.hlog"} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(dir2, name))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs after re-rendering from result.json", name)
		}
	}
	if _, err := ReadDir(filepath.Join(dir, ResultFile)); err != nil {
		t.Fatalf("ReadDir on the file itself: %v", err)
	}
}

// failAfter fails every write once n bytes were written.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestReportersReturnWriteErrors(t *testing.T) {
	r := summarized(t)
	d := Compare(r, r, DiffOptions{})
	for _, tc := range []struct {
		name string
		rep  Reporter
	}{
		{"json", NewJSONReporter(r)},
		{"markdown", NewMarkdownReporter(r)},
		{"html", NewHTMLReporter(r)},
		{"junit", NewJUnitReporter(r)},
		{"hlog", func(w io.Writer) error { return WriteHlog(w, &r.Scenarios[0]) }},
		{"hgrm", func(w io.Writer) error { return WriteHgrm(w, &r.Scenarios[0]) }},
		{"diff", NewDiffReporter(d, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := len(render(t, tc.rep))
			for _, n := range []int{0, 100, full / 2, full - 1} {
				if err := tc.rep(&failAfter{n: n}); !errors.Is(err, errDiskFull) {
					t.Fatalf("write failing after %d bytes: err = %v, want errDiskFull", n, err)
				}
			}
		})
	}
}

func TestHTMLSelfContained(t *testing.T) {
	out := string(render(t, NewHTMLReporter(summarized(t))))
	for _, bad := range []string{"<script", "<link", "@import", "url(", "src=", "http://", "https://"} {
		// The SVG namespace is an identifier, never fetched.
		s := strings.ReplaceAll(out, `xmlns="http://www.w3.org/2000/svg"`, "")
		if strings.Contains(s, bad) {
			t.Errorf("report.html contains %q: it must not load anything", bad)
		}
	}
	// Latency over time and percentiles for the three replays; gap-sweep
	// has no goroutine samples, so no goroutine plot; many-hosts has
	// throughput and latency over time for both loads and the capacity
	// plot of its search.
	if got := strings.Count(out, `<svg class="plot"`); got != 13 {
		t.Errorf("%d plots, want 13", got)
	}
	for _, want := range []string{`class="fault"`, "99.9%", "(*StderrHandler).Handle (stderr.go:71)", `href="profiles/stderr-backpressure-block.pb.gz"`, `href="hlog/back-to-back.hlog"`} {
		if !strings.Contains(out, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestWriteAllWithoutHistograms(t *testing.T) {
	// A producer that only filled percentiles still gets every report.
	r := &Result{Scenarios: []Scenario{{
		Name:   "bare",
		Phases: []Phase{{Name: "baseline", EndMS: 1000, Ping: &Latencies{Count: 50, P50: 0.4, P99: 1.2, Max: 2}}},
		Steps:  []Step{{Kind: "call", Tool: "consult", Phase: "baseline", LatencyMS: 12, Outcome: OutcomeOK, Pass: true}},
		Checks: []Check{{Name: "c", Pass: true}},
	}}}
	dir := t.TempDir()
	if err := WriteAll(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ResultFile, SummaryFile, HTMLFile, JUnitFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The phase's tool calls (from steps) have a histogram, so a log exists.
	if _, err := os.Stat(filepath.Join(dir, "hlog", "bare.hlog")); err != nil {
		t.Fatal(err)
	}
}
