package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JUnit XML, in the shape Jenkins (junit plugin), GitLab (artifacts:reports:junit)
// and GitHub test-report actions read: <testsuites> holding one <testsuite>
// per scenario, one <testcase> per check. A failing check carries a
// <failure> whose text is the scenario's diagnosis; a scenario the harness
// could not run is an <error>; an invalid run marks its checks <skipped>.
type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Time     string           `xml:"time,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	ID         int             `xml:"id,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitTestcase `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// NewJUnitReporter renders junit.xml.
func NewJUnitReporter(r *Result) Reporter {
	return func(w io.Writer) error {
		doc := junitDocument(r)
		if _, err := io.WriteString(w, xml.Header); err != nil {
			return fmt.Errorf("cannot write JUnit XML: %w", err)
		}
		enc := xml.NewEncoder(w)
		enc.Indent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("cannot write JUnit XML: %w", err)
		}
		if err := enc.Close(); err != nil {
			return fmt.Errorf("cannot write JUnit XML: %w", err)
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return fmt.Errorf("cannot write JUnit XML: %w", err)
		}
		return nil
	}
}

func junitDocument(r *Result) junitTestsuites {
	// The document's name heads the run with its verdict and names the
	// failed, could-not-run and invalid scenarios apart, as summary.md does.
	doc := junitTestsuites{Name: "secondbrain replay: " + verdictWord(Judge(r.Scenarios, 0).Verdict)}
	if lines := OutcomeLines(r); len(lines) > 0 {
		doc.Name += " — " + strings.Join(lines, " ")
	}
	var total float64
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		s := junitSuite(r, sc, i)
		doc.Suites = append(doc.Suites, s)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		total += sc.DurationMS / 1000
	}
	doc.Time = junitSeconds(total)
	return doc
}

func junitSuite(r *Result, sc *Scenario, id int) junitTestsuite {
	s := junitTestsuite{
		Name:     sc.Name,
		Time:     junitSeconds(sc.DurationMS / 1000),
		Hostname: r.Run.Hostname,
		ID:       id,
	}
	if !sc.StartedAt.IsZero() {
		// ISO 8601 without a zone is what the JUnit XSD's timestamp expects.
		s.Timestamp = sc.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	s.Properties = append(s.Properties, junitProperty{Name: "verdict", Value: sc.Verdict})
	if sc.Canary != "" {
		s.Properties = append(s.Properties, junitProperty{Name: "canary", Value: sc.Canary})
	}
	if sc.Source != "" {
		s.Properties = append(s.Properties, junitProperty{Name: "source", Value: sc.Source})
	}
	if hb := sc.Heartbeat; hb != nil && hb.Ping != nil && hb.Ping.Count > 0 {
		for _, p := range []struct {
			name string
			v    float64
		}{{"heartbeat.ping.p50_ms", hb.Ping.P50}, {"heartbeat.ping.p99_ms", hb.Ping.P99}, {"heartbeat.ping.p999_ms", hb.Ping.P999}, {"heartbeat.ping.max_ms", hb.Ping.Max}} {
			s.Properties = append(s.Properties, junitProperty{Name: p.name, Value: strconv.FormatFloat(p.v, 'f', 3, 64)})
		}
	}
	s.Properties = append(s.Properties, junitLoadProperties(sc)...)
	diagnosis := diagnosisText(sc)
	class := "secondbrain.replay." + sc.Name
	if sc.Error != "" {
		s.Cases = append(s.Cases, junitTestcase{
			Name: "scenario runs", Classname: class, Time: s.Time,
			Error: &junitProblem{Message: oneLine(sc.Error), Type: "harness", Text: sc.Error},
		})
	}
	anyFailed := false
	for _, c := range sc.Checks {
		tc := junitTestcase{Name: CheckLabel(c), Classname: class, Time: "0", SystemOut: oneLine(CheckText(c))}
		switch {
		case sc.Verdict == VerdictInvalid:
			tc.Skipped = &junitProblem{Message: "run invalid: " + oneLine(sc.Invalid)}
		case !c.Pass:
			anyFailed = true
			tc.Failure = &junitProblem{Message: oneLine(CheckText(c)), Type: "threshold", Text: diagnosis}
		}
		s.Cases = append(s.Cases, tc)
	}
	// A scenario can fail without a failing check (a step did not get the
	// outcome it expected); CI must still see a failure, so one testcase
	// stands for the verdict. Likewise a scenario with no checks at all.
	if sc.Error == "" && (len(sc.Checks) == 0 || (sc.Verdict == VerdictFail && !anyFailed)) {
		tc := junitTestcase{Name: "verdict", Classname: class, Time: s.Time}
		switch sc.Verdict {
		case VerdictPass:
		case VerdictInvalid:
			tc.Skipped = &junitProblem{Message: "run invalid: " + oneLine(sc.Invalid)}
		default:
			msg := "scenario failed"
			if steps := failedStepsText(sc); steps != "" {
				msg += ": " + steps
			}
			tc.Failure = &junitProblem{Message: oneLine(msg), Type: "verdict", Text: strings.TrimSpace(msg + "\n\n" + diagnosis)}
		}
		s.Cases = append(s.Cases, tc)
	}
	for _, tc := range s.Cases {
		s.Tests++
		switch {
		case tc.Failure != nil:
			s.Failures++
		case tc.Error != nil:
			s.Errors++
		case tc.Skipped != nil:
			s.Skipped++
		}
	}
	if sc.Invalid != "" {
		s.SystemOut = "invalid: " + sc.Invalid
	}
	return s
}

// junitLoadProperties are the headline figures of each load, so a CI
// dashboard that charts properties can follow them from run to run.
func junitLoadProperties(sc *Scenario) []junitProperty {
	var out []junitProperty
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for i := range sc.Loads {
		l := &sc.Loads[i]
		prefix := "load." + loadName(l) + "."
		out = append(out,
			junitProperty{Name: prefix + "offered_rate", Value: num(l.OfferedRate)},
			junitProperty{Name: prefix + "achieved_rate", Value: num(l.AchievedRate)},
			junitProperty{Name: prefix + "errors", Value: strconv.FormatInt(l.Errors, 10)},
			junitProperty{Name: prefix + "dropped", Value: strconv.FormatInt(l.Dropped, 10)})
		if lat := LoadLatency(l); lat != nil {
			out = append(out, junitProperty{Name: prefix + "p99_ms", Value: num(lat.P99)})
		}
		if l.Capacity != nil {
			out = append(out, junitProperty{Name: prefix + "capacity_rate", Value: num(l.Capacity.Rate)})
		}
	}
	return out
}

// diagnosisText is the diagnosis as plain text for a failure's body: summary,
// ranked frames with their stacks, and the profiles to open.
func diagnosisText(sc *Scenario) string {
	d := sc.Diagnosis
	if d == nil {
		return "no diagnosis (no request-path goroutine was seen waiting); see report.html"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "diagnosis: %s\n", DiagnosisLine(d))
	if d.Summary != "" {
		fmt.Fprintf(&b, "%s\n", d.Summary)
	}
	for i, f := range d.Frames {
		fmt.Fprintf(&b, "\n#%d %s [%s] %d goroutine%s waited %s (%s)\n", i+1, f.Frame, f.Cause, f.Goroutines, plural(f.Goroutines), FormatMS(f.WaitMS), f.Source)
		for _, line := range f.Stack {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	if len(d.Profiles) > 0 {
		fmt.Fprintf(&b, "\nprofiles: %s\n", strings.Join(d.Profiles, " "))
	}
	return b.String()
}

func failedStepsText(sc *Scenario) string {
	var parts []string
	for _, s := range sc.Steps {
		if s.Pass || s.Outcome == OutcomeSkipped {
			continue
		}
		p := fmt.Sprintf("step %d %s %s", s.Index, stepName(s), s.Outcome)
		if s.Expected != "" {
			p += " (expected " + s.Expected + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func junitSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
