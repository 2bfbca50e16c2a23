package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/scenarios"
)

// replayOpts are the flags of `secondbrain replay`.
type replayOpts struct {
	all       bool
	timeScale float64
	out       string
	json      bool
	seed      int64
	transport string
	serverCmd string
}

func newReplayCmd() *cobra.Command {
	var o replayOpts
	cmd := &cobra.Command{
		Use:   "replay [names or files…]",
		Short: "Replay incident scenarios against the server",
		Long: `Replay scenarios of the incident catalog (all of them with no argument or --all),
or scenario files given by path, against the server: the fake OpenAI API and the fake
log sink run in-process, the server runs as a subprocess (this binary's serve, or
--server-cmd), and each call's latency and outcome is recorded.

Exit status: 0 every scenario passed; 1 a verdict failed; 2 bad usage, or the
harness (or the server) could not run a scenario; 3 the run is invalid.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all && len(args) > 0 {
				return &exitError{code: exitUsage, err: errors.New("give scenario names or --all, not both")}
			}
			return replay(cmd.Context(), o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.all, "all", false, "replay the whole catalog (the default with no names)")
	f.Float64Var(&o.timeScale, "time-scale", scenarios.DefaultTimeScale, "run scenario time this many times faster (1 = real time)")
	f.StringVar(&o.out, "out", "out", "directory for result.json and the other reports (\"\" = none)")
	f.BoolVar(&o.json, "json", false, "print result.json to stdout (progress goes to stderr)")
	f.Int64Var(&o.seed, "seed", 1, "seed for generated project trees")
	f.StringVar(&o.transport, "transport", scenarios.DefaultTransport, "MCP transport: stdio or http")
	f.StringVar(&o.serverCmd, "server-cmd", "", "drive this MCP server command over stdio instead of `secondbrain serve` (split on spaces)")
	return cmd
}

func replay(ctx context.Context, o replayOpts, args []string, stdout, stderr io.Writer) error {
	if o.timeScale <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--time-scale must be > 0, got %v", o.timeScale)}
	}
	if o.transport != "stdio" && o.transport != "http" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--transport must be stdio or http, got %q", o.transport)}
	}
	scs, err := loadScenarios(args)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	runner := scenarios.NewRunner(scenarios.Options{
		TimeScale: o.timeScale,
		Transport: o.transport,
		ServerCmd: strings.Fields(o.serverCmd),
		Seed:      o.seed,
	})
	host, _ := os.Hostname()
	result := &reports.Result{
		SchemaVersion: reports.SchemaVersion,
		Run: reports.RunInfo{
			ID: time.Now().UTC().Format("20060102T150405Z"), StartedAt: time.Now(), TimeScale: o.timeScale,
			Transport: o.transport, Seed: o.seed, ServerCmd: strings.Fields(o.serverCmd),
			GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, NumCPU: runtime.NumCPU(),
			Hostname: host, Version: versionString(),
		},
		Scenarios: []reports.Scenario{},
	}
	progress := stderr
	if !o.json {
		progress = stdout
	}
	p := newProgress(progress)
	for ev := range runner.Run(ctx, scs) {
		p.event(ev)
		if ev.Kind == scenarios.ScenarioFinished {
			result.Scenarios = append(result.Scenarios, *ev.Result)
		}
	}
	p.done()
	result.Run.FinishedAt = time.Now()
	result.Run.Verdict = runVerdict(result)

	printTable(progress, result)
	var errs []error
	if o.out != "" {
		if err := reports.WriteAll(o.out, result); err != nil {
			errs = append(errs, fmt.Errorf("cannot write reports to %q: %w", o.out, err))
		} else {
			fmt.Fprintf(progress, "reports written to %s/\n", o.out)
		}
	}
	if o.json {
		if err := reports.NewJSONReporter(result).Report(stdout); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitUsage, err: errors.New("replay interrupted; everything it started was stopped")}
	case len(errs) > 0:
		return &exitError{code: exitUsage, err: errors.Join(errs...)}
	}
	return verdictExit(result)
}

func runVerdict(r *reports.Result) string {
	v := reports.VerdictPass
	for _, sc := range r.Scenarios {
		switch sc.Verdict {
		case reports.VerdictInvalid:
			return reports.VerdictInvalid
		case reports.VerdictFail:
			v = reports.VerdictFail
		}
	}
	return v
}

// verdictExit maps the result onto the exit codes: a scenario that could
// not run (harness or server broke) is 2, an invalid run 3, a failed
// verdict 1.
func verdictExit(r *reports.Result) error {
	var broken, failed, invalid []string
	for _, sc := range r.Scenarios {
		switch {
		case sc.Error != "":
			broken = append(broken, sc.Name)
		case sc.Verdict == reports.VerdictInvalid:
			invalid = append(invalid, sc.Name)
		case sc.Verdict == reports.VerdictFail:
			failed = append(failed, sc.Name)
		}
	}
	switch {
	case len(broken) > 0:
		return &exitError{code: exitUsage, err: fmt.Errorf("could not run: %s", strings.Join(broken, ", "))}
	case len(invalid) > 0:
		return &exitError{code: exitInvalid, err: fmt.Errorf("invalid (the harness fell behind): %s", strings.Join(invalid, ", "))}
	case len(failed) > 0:
		return &exitError{code: exitFail, err: fmt.Errorf("failed: %s", strings.Join(failed, ", "))}
	}
	return nil
}

// progress shows where a run is: one rewritten line on a terminal, plain
// lines (one per finished step and scenario) otherwise, for CI logs.
type progress struct {
	w     io.Writer
	tty   bool
	width int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, width: 100}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			p.width = cols - 1
		}
	}
	return p
}

func (p *progress) event(ev scenarios.Event) {
	head := fmt.Sprintf("[%d/%d] %s", ev.Index+1, ev.Total, ev.Scenario.Name)
	switch ev.Kind {
	case scenarios.ScenarioStarted:
		if !p.tty {
			fmt.Fprintf(p.w, "%s: start (~%v of gaps)\n", head, ev.Expected.Round(10*time.Millisecond))
		}
	case scenarios.StepStarted:
		if p.tty {
			p.line(fmt.Sprintf("%s  step %d %s %s  %v / ~%v", head, ev.Step.Index, ev.Step.Kind, ev.Step.Name,
				ev.Elapsed.Round(100*time.Millisecond), ev.Expected.Round(100*time.Millisecond)))
		}
	case scenarios.StepFinished:
		if !p.tty && ev.Step.Kind != scenarios.KindPhase {
			mark := "ok  "
			if !ev.Step.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(p.w, "%s  %s step %d %s %s: %s in %.0f ms%s\n", head, mark, ev.Step.Index, ev.Step.Kind,
				ev.Step.Name, ev.Step.Outcome, ev.Step.LatencyMS, errSuffix(ev.Step.Error))
		}
	case scenarios.ScenarioFinished:
		line := fmt.Sprintf("%s: %s in %v%s", head, strings.ToUpper(ev.Result.Verdict),
			ev.Elapsed.Round(10*time.Millisecond), errSuffix(ev.Result.Error))
		if p.tty {
			p.line("")
		}
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) line(s string) {
	if len(s) > p.width {
		s = s[:p.width]
	}
	fmt.Fprintf(p.w, "\r\033[K%s", s)
}

func (p *progress) done() {
	if p.tty {
		p.line("")
	}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return " — " + s
}

func printTable(w io.Writer, r *reports.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSCENARIO\tVERDICT\tSTEPS OK\tWALL\tPING p99\tPING max\tNOTE")
	for _, sc := range r.Scenarios {
		ok := 0
		for _, st := range sc.Steps {
			if st.Pass {
				ok++
			}
		}
		p99, mx := "-", "-"
		if sc.Heartbeat != nil && sc.Heartbeat.Ping != nil && sc.Heartbeat.Ping.Count > 0 {
			p99 = fmt.Sprintf("%.1f ms", sc.Heartbeat.Ping.P99)
			mx = fmt.Sprintf("%.1f ms", sc.Heartbeat.Ping.Max)
		}
		note := sc.Error
		if note == "" {
			for _, st := range sc.Steps {
				if !st.Pass {
					note = fmt.Sprintf("step %d %s %s: %s (want %s) %s", st.Index, st.Kind, st.Name, st.Outcome, st.Expected, st.Error)
					break
				}
			}
		}
		if note == "" {
			for _, c := range sc.Checks {
				if !c.Pass {
					note = fmt.Sprintf("check %s: %g %s %g", c.Name, c.Value, c.Op, c.Threshold)
					break
				}
			}
		}
		if len(note) > 120 {
			note = note[:120] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%.1fs\t%s\t%s\t%s\n", sc.Name, sc.Verdict, ok, len(sc.Steps),
			sc.DurationMS/1000, p99, mx, note)
	}
	fmt.Fprintf(tw, "(run)\t%s\t\t%.1fs\t\t\t\n", r.Run.Verdict, r.Run.FinishedAt.Sub(r.Run.StartedAt).Seconds())
	_ = tw.Flush()
}
