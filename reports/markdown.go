package reports

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// maxChecksInCell bounds the failing checks listed in one summary table cell;
// the rest are counted and listed in the section below the table.
const maxChecksInCell = 3

// NewMarkdownReporter renders summary.md: a run header, one table row per
// scenario (verdict, heartbeat ping p50/p99/p99.9/max, failing checks,
// diagnosis in one line), one line per open-model load, then a section per failed or invalid scenario
// with every failing check, the ranked culprit frames and the profiles. It
// reads well both as GitHub-flavoured Markdown (a PR comment, a job summary)
// and as plain text in a CI log.
func NewMarkdownReporter(r *Result) Reporter {
	return func(w io.Writer) error {
		ew := newErrWriter(w)
		writeMarkdown(ew, r)
		if err := ew.flush(); err != nil {
			return fmt.Errorf("cannot write Markdown summary: %w", err)
		}
		return nil
	}
}

func writeMarkdown(w *errWriter, r *Result) {
	run := r.Run
	w.printf("# secondbrain replay: %s\n\n", verdictWord(run.Verdict))
	w.print(runHeader(r, "`"))
	w.print("\n")
	if cal := CalibrationLine(r); cal != "" {
		w.printf("%s\n\n", cal)
	}
	c := CountVerdicts(r)
	w.printf("**%d scenario%s: %d pass, %d fail, %d invalid.**\n\n", c.Total, plural(c.Total), c.Pass, c.Fail, c.Invalid)
	for _, l := range OutcomeLines(r) {
		w.printf("- %s\n", l)
	}
	if advice := InvalidAdvice(r); advice != "" {
		w.printf("\n%s\n", advice)
	}
	w.print("\n")
	if c.Total == 0 {
		w.print("No scenario ran.\n")
		return
	}
	w.print("| scenario | verdict | heartbeat p50 | p99 | p99.9 | max | failing checks | diagnosis |\n")
	w.print("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		p50, p99, p999, pmax := "–", "–", "–", "–"
		if sc.Heartbeat != nil && sc.Heartbeat.Ping != nil && sc.Heartbeat.Ping.Count > 0 {
			l := sc.Heartbeat.Ping
			p50, p99, p999, pmax = FormatMS(l.P50), FormatMS(l.P99), FormatMS(l.P999), FormatMS(l.Max)
		}
		w.printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			mdCell(sc.Name), verdictMarkdown(sc.Verdict), p50, p99, p999, pmax,
			mdCell(failingCell(sc)), mdCode(DiagnosisLine(sc.Diagnosis)))
	}
	writeMarkdownLoads(w, r)
	var bad []*Scenario
	for i := range r.Scenarios {
		if r.Scenarios[i].Verdict != VerdictPass {
			bad = append(bad, &r.Scenarios[i])
		}
	}
	if len(bad) > 0 {
		w.print("\n## Failed and invalid scenarios\n")
		for _, sc := range bad {
			writeMarkdownScenario(w, sc)
		}
	}
	writeMarkdownRetried(w, r)
	w.print("\nPlots, every check and the culprit stacks: `report.html`. CI test results: `junit.xml`. Histograms: `hlog/*.hlog` (HdrHistogram log format).\n")
}

// writeMarkdownLoads lists every open-model load in one line each: the
// table's heartbeat columns say nothing about them.
func writeMarkdownLoads(w *errWriter, r *Result) {
	head := false
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		for j := range sc.Loads {
			if !head {
				w.print("\n## Loads\n\n")
				head = true
			}
			w.printf("- %s: %s\n", mdCell(sc.Name), mdCell(LoadLine(&sc.Loads[j])))
		}
	}
}

// writeMarkdownRetried lists the scenarios that passed only after invalid
// attempts (the failed and invalid ones show theirs in their sections).
func writeMarkdownRetried(w *errWriter, r *Result) {
	head := false
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		if sc.Verdict != VerdictPass || len(sc.Attempts) == 0 {
			continue
		}
		if !head {
			w.print("\n## Passed after invalid attempts\n")
			head = true
		}
		w.printf("\n%s:\n\n", sc.Name)
		for _, l := range AttemptLines(sc) {
			w.printf("- %s\n", oneLine(l))
		}
	}
}

func writeMarkdownScenario(w *errWriter, sc *Scenario) {
	w.printf("\n### %s: %s\n\n", sc.Name, verdictWord(sc.Verdict))
	if sc.Canary != "" {
		w.printf("Canary injected: `%s`.\n", sc.Canary)
	}
	if sc.Description != "" {
		w.printf("%s\n", oneLine(sc.Description))
	}
	if sc.Invalid != "" {
		w.printf("\nThe run is **invalid**, not failed (the harness itself fell behind): %s\n", oneLine(sc.Invalid))
	}
	if sc.Error != "" {
		w.printf("\nHarness error: %s\n", mdCode(sc.Error))
	}
	if lines := AttemptLines(sc); len(lines) > 0 {
		w.print("\nAttempts:\n\n")
		for _, l := range lines {
			w.printf("- %s\n", oneLine(l))
		}
	}
	if failing := FailingChecks(sc); len(failing) > 0 {
		w.print("\nFailing checks:\n\n")
		for _, c := range failing {
			w.printf("- `%s`: %s\n", CheckLabel(c), oneLine(CheckText(c)))
		}
	}
	var failedSteps []Step
	for _, s := range sc.Steps {
		if !s.Pass && s.Outcome != OutcomeSkipped {
			failedSteps = append(failedSteps, s)
		}
	}
	if len(failedSteps) > 0 {
		w.print("\nSteps that did not go as expected:\n\n")
		for _, s := range failedSteps {
			w.printf("- step %d %s: %s", s.Index, stepName(s), s.Outcome)
			if s.Expected != "" {
				w.printf(" (expected %s)", s.Expected)
			}
			w.printf(" after %s", FormatMS(s.LatencyMS))
			if s.Error != "" {
				w.printf(": %s", mdCode(s.Error))
			}
			w.print("\n")
		}
	}
	d := sc.Diagnosis
	if d == nil {
		return
	}
	w.print("\n**Diagnosis:** ")
	if d.Summary != "" {
		w.print(oneLine(d.Summary))
	} else {
		w.print(DiagnosisLine(d))
	}
	w.print("\n")
	if len(d.Frames) > 0 {
		w.print("\n| # | frame where request-path goroutines waited | cause | goroutines | waited | seen in |\n")
		w.print("| ---: | --- | --- | ---: | ---: | --- |\n")
		for i, f := range d.Frames {
			w.printf("| %d | %s | %s | %d | %s | %s |\n", i+1, mdCode(f.Frame), mdCell(f.Cause), f.Goroutines, FormatMS(f.WaitMS), mdCell(f.Source))
		}
	}
	if len(d.Profiles) > 0 {
		w.print("\nProfiles (open with `go tool pprof`): ")
		for i, p := range d.Profiles {
			if i > 0 {
				w.print(", ")
			}
			w.print(mdCode(p))
		}
		w.print("\n")
	}
}

// runHeader is the run's metadata in two lines; code wraps the run id.
func runHeader(r *Result, code string) string {
	run := r.Run
	var first []string
	if run.ID != "" {
		first = append(first, "Run "+code+run.ID+code)
	}
	if !run.StartedAt.IsZero() {
		first = append(first, run.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if !run.StartedAt.IsZero() && !run.FinishedAt.IsZero() && run.FinishedAt.After(run.StartedAt) {
		first = append(first, "took "+run.FinishedAt.Sub(run.StartedAt).Round(100*time.Millisecond).String())
	}
	if run.Transport != "" {
		first = append(first, run.Transport)
	}
	if run.Protocol != "" {
		first = append(first, "MCP "+run.Protocol)
	}
	if run.TimeScale != 0 {
		first = append(first, "time scale "+formatNumber(run.TimeScale)+"×")
	}
	first = append(first, fmt.Sprintf("seed %d", run.Seed))
	var second []string
	if run.Version != "" {
		second = append(second, "secondbrain "+run.Version)
	}
	if run.GoVersion != "" {
		second = append(second, strings.TrimSpace(run.GoVersion+" "+run.GOOS+"/"+run.GOARCH))
	}
	if run.NumCPU > 0 {
		second = append(second, fmt.Sprintf("%d CPU%s", run.NumCPU, plural(run.NumCPU)))
	}
	if run.Hostname != "" {
		second = append(second, run.Hostname)
	}
	if len(run.ServerCmd) > 0 {
		second = append(second, "server "+code+strings.Join(run.ServerCmd, " ")+code)
	}
	if run.Canaries {
		second = append(second, "canaries on")
	}
	s := strings.Join(first, " · ") + "\n"
	if len(second) > 0 {
		// Two trailing spaces would be a Markdown line break but are easy to
		// lose; a blank line keeps both lines apart everywhere.
		s += "\n" + strings.Join(second, " · ") + "\n"
	}
	return s
}

func failingCell(sc *Scenario) string {
	var parts []string
	if sc.Invalid != "" {
		parts = append(parts, "invalid: "+sc.Invalid)
	}
	if sc.Error != "" {
		parts = append(parts, "error: "+sc.Error)
	}
	failing := FailingChecks(sc)
	for i, c := range failing {
		if i == maxChecksInCell {
			parts = append(parts, fmt.Sprintf("+%d more", len(failing)-maxChecksInCell))
			break
		}
		parts = append(parts, CheckLabel(c)+" "+FormatValue(c.Value, c.Unit)+" (limit "+c.Op+" "+FormatValue(c.Threshold, c.Unit)+")")
	}
	return strings.Join(parts, "; ")
}

func stepName(s Step) string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Tool != "":
		return s.Tool
	}
	return s.Kind
}

func verdictWord(v string) string {
	switch v {
	case VerdictPass:
		return "PASS"
	case VerdictInvalid:
		return "INVALID"
	case "":
		return "UNKNOWN"
	}
	return "FAIL"
}

func verdictMarkdown(v string) string {
	switch v {
	case VerdictPass:
		return "pass"
	case VerdictInvalid:
		return "*invalid*"
	}
	return "**FAIL**"
}

// mdCell makes s safe inside a Markdown table cell: one line, pipes escaped.
func mdCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// mdCode wraps s in a code span (empty s stays empty), choosing a fence
// longer than any backtick run inside it.
func mdCode(s string) string {
	s = mdCell(s)
	if s == "" {
		return ""
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}
