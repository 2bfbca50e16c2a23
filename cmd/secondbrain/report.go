package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// reportOpts are the flags of `secondbrain report DIR`.
type reportOpts struct {
	dir string // holds result.json
	out string // where to write; dir when empty
}

// reportDiffOpts are the flags of `secondbrain report diff OLD NEW`.
type reportDiffOpts struct {
	old, new    string
	tolerance   float64
	floorMS     float64
	onlyChanged bool
	json        bool
}

func newReportCmd() *cobra.Command {
	var opts reportOpts
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Re-render a replay's reports from DIR/result.json, or diff two runs",
		Long: `report re-renders every report of a replay from its result.json:
summary.md, report.html, junit.xml and hlog/<scenario>.hlog (+ .hgrm), into
DIR or --out. DIR may also name the result.json file itself.

report diff OLD NEW compares two runs and exits 1 on a regression.`,
		Example: `  secondbrain report out/
  secondbrain report out/result.json --out /tmp/rerendered
  secondbrain report diff baseline/ out/ --tolerance 0.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.dir = args[0]
			return runReport(cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.out, "out", "", "write the reports into this directory instead of DIR")
	cmd.AddCommand(newReportDiffCmd())
	return cmd
}

func runReport(w io.Writer, opts reportOpts) error {
	r, err := reports.ReadDir(opts.dir)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	out := opts.out
	if out == "" {
		out = opts.dir
		if fi, err := os.Stat(opts.dir); err == nil && !fi.IsDir() {
			out = filepath.Dir(opts.dir) // DIR named result.json itself
		}
	}
	if err := reports.WriteAll(out, r); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("cannot re-render reports into %q: %w", out, err)}
	}
	c := reports.CountVerdicts(r)
	_, err = fmt.Fprintf(w, "rendered %s, %s, %s, %s and hlog/ into %s: %d scenarios, %d pass, %d fail, %d invalid (run verdict %s)\n",
		reports.ResultFile, reports.SummaryFile, reports.HTMLFile, reports.JUnitFile, out, c.Total, c.Pass, c.Fail, c.Invalid, r.Run.Verdict)
	return err
}

func newReportDiffCmd() *cobra.Command {
	opts := reportDiffOpts{tolerance: reports.DefaultTolerance, floorMS: reports.DefaultFloorMS}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two runs per scenario and check; exit 1 on a regression beyond the tolerance",
		Long: `diff compares the NEW run with the OLD (baseline) one. OLD and NEW are
report directories or result.json files. For every scenario (matched by name)
it compares the verdict, the heartbeat ping and no-op p99, p99.9 and max, and
every check (matched by name and phase).

A row is a REGRESSION when a verdict or a check flips from pass to fail, or
when a value moves the wrong way (up for latencies and "<=" checks, down for
">=" checks) by more than --tolerance × the old value AND more than the noise
floor: --floor-ms for milliseconds (sub-millisecond pings move by more than
20% between two runs on a shared CI machine without meaning anything), one
for counts, 0.01 for ratios. Scenarios invalid in either run are not
compared; scenarios or checks present in only one run are listed as new or
missing, not as regressions.

Exit status: 0 no regression, 1 at least one regression, 2 bad usage or an
unreadable run.`,
		Example: `  secondbrain report diff baseline/ out/
  secondbrain report diff baseline/result.json out/result.json --tolerance 0.5 --changed`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.old, opts.new = args[0], args[1]
			return runReportDiff(cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&opts.tolerance, "tolerance", opts.tolerance, "relative worsening allowed before a value is a regression (0.2 = +20%)")
	f.Float64Var(&opts.floorMS, "floor-ms", opts.floorMS, "latency changes smaller than this many milliseconds are never a regression")
	f.BoolVar(&opts.onlyChanged, "changed", false, "list only rows that are not ok")
	f.BoolVar(&opts.json, "json", false, "print the comparison as JSON instead of a table")
	return cmd
}

func runReportDiff(w io.Writer, opts reportDiffOpts) error {
	if opts.tolerance < 0 || opts.floorMS < 0 {
		return &exitError{code: exitUsage, err: errors.New("report diff: --tolerance and --floor-ms must not be negative")}
	}
	old, err := reports.ReadDir(opts.old)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	cur, err := reports.ReadDir(opts.new)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	// In DiffOptions zero means "default"; on the command line 0 means none.
	do := reports.DiffOptions{Tolerance: opts.tolerance, FloorMS: opts.floorMS}
	if do.Tolerance == 0 {
		do.Tolerance = -1
	}
	if do.FloorMS == 0 {
		do.FloorMS = -1
	}
	d := reports.Compare(old, cur, do)
	if opts.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("cannot write diff: %w", err)}
		}
	} else if err := reports.NewDiffReporter(d, opts.onlyChanged)(w); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if d.Regressions > 0 {
		return &exitError{code: exitFail, err: fmt.Errorf("report diff: %d regression(s) of %s against %s", d.Regressions, opts.new, opts.old)}
	}
	return nil
}
