package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakesink"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

type fakeSinkOpts struct {
	listen    string
	delay     time.Duration
	timeScale float64
	faults    string
}

func newFakeSinkCmd() *cobra.Command {
	var o fakeSinkOpts
	cmd := &cobra.Command{
		Use:   "fakesink",
		Short: "Run the fake VictoriaLogs sink",
		Long: `Run a fake VictoriaLogs JSON-lines endpoint until SIGINT/SIGTERM.

The first line of stdout is the base URL (http://HOST:PORT); ship logs to
BASE/insert/jsonline. Faults change at run time with POST BASE/_fault, e.g.
{"delay":"5s"}, {"stall_for":"30s"}, {"hang":true}, {"error_status":503},
{"stop_for":"1m"} (connection refused, then back on the same port);
counters are at GET BASE/_stats.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFakeSink(cmd, o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on")
	fl.DurationVar(&o.delay, "delay", 0, "delay before answering each ingestion request")
	fl.Float64Var(&o.timeScale, "time-scale", 1, "scenario time runs this many times faster than real time")
	fl.StringVar(&o.faults, "faults", "", "initial faults as JSON (same keys as POST /_fault), applied after the flags")
	return cmd
}

func runFakeSink(cmd *cobra.Command, o fakeSinkOpts) error {
	f := fakesink.Faults{Delay: fakesink.Duration(o.delay)}
	if o.faults != "" {
		if err := json.Unmarshal([]byte(o.faults), &f); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("cannot parse --faults: %w", err)}
		}
	}
	if err := f.Validate(); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("invalid fakesink faults: %w", err)}
	}
	if o.timeScale <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--time-scale %v must be > 0", o.timeScale)}
	}
	var clk clock.Clock = clock.Real{}
	if o.timeScale != 1 {
		clk = clock.NewScaled(o.timeScale)
	}
	stopFor := f.StopFor
	f.StopFor = 0
	sink := fakesink.New(fakesink.WithClock(clk), fakesink.WithFaults(f))
	defer sink.Close()
	base, err := sink.Start(o.listen)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	fmt.Fprintln(cmd.OutOrStdout(), base)
	fmt.Fprintf(cmd.ErrOrStderr(), "fakesink: ingesting at %s/insert/jsonline (control: %s/_fault, %s/_stats); stop with Ctrl-C\n", base, base, base)
	if stopFor > 0 {
		sink.SetFaults(fakesink.Faults{Delay: f.Delay, StallFor: f.StallFor, Hang: f.Hang,
			ErrorStatus: f.ErrorStatus, ErrorCount: f.ErrorCount, StopFor: stopFor})
	}
	<-cmd.Context().Done()
	return nil
}
