package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

type fakeAIOpts struct {
	listen           string
	uploadLatency    time.Duration
	throttleFactor   float64
	throttleAfter    int
	recovery         time.Duration
	storeLimit       int
	responseDuration time.Duration
	batchDuration    time.Duration
	timeScale        float64
	faults           string
}

func newFakeAICmd() *cobra.Command {
	var o fakeAIOpts
	cmd := &cobra.Command{
		Use:   "fakeai",
		Short: "Run the fake OpenAI-compatible API",
		Long: `Run the fake OpenAI-compatible API until SIGINT/SIGTERM.

The first line of stdout is the base URL (http://HOST:PORT, without /v1).
Point clients at BASE/v1, e.g. OPENAI_BASE_URL=$BASE/v1 (any API key works).
Faults can be changed at run time with POST BASE/_fault; counters are at
GET BASE/_stats. Durations are scenario time: with --time-scale 60 a
4-minute recovery window takes 4 real seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFakeAI(cmd, o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on")
	fl.DurationVar(&o.uploadLatency, "upload-latency", 0, "latency added to every file upload")
	fl.Float64Var(&o.throttleFactor, "throttle-factor", fakeai.DefaultThrottleFactor, "slow-down of uploads while throttled")
	fl.IntVar(&o.throttleAfter, "throttle-after", 0, "engage the upload throttle after this many uploads within one recovery window (0 = never)")
	fl.DurationVar(&o.recovery, "recovery", fakeai.DefaultRecovery, "quiet time after which the upload throttle disengages (3m–5m)")
	fl.IntVar(&o.storeLimit, "store-limit", fakeai.DefaultStoreLimit, "maximum live vector stores (negative = no limit)")
	fl.DurationVar(&o.responseDuration, "response-duration", 0, "time a background response takes to complete")
	fl.DurationVar(&o.batchDuration, "batch-duration", 0, "time vector-store files and batches stay in_progress")
	fl.Float64Var(&o.timeScale, "time-scale", 1, "scenario time runs this many times faster than real time")
	fl.StringVar(&o.faults, "faults", "", "initial faults as JSON (same keys as POST /_fault), or @FILE; applied after the flags")
	return cmd
}

func runFakeAI(cmd *cobra.Command, o fakeAIOpts) error {
	f := fakeai.Faults{
		UploadLatency:        fakeai.Duration(o.uploadLatency),
		ThrottleFactor:       o.throttleFactor,
		ThrottleAfterUploads: o.throttleAfter,
		Recovery:             fakeai.Duration(o.recovery),
		StoreLimit:           o.storeLimit,
		ResponseDuration:     fakeai.Duration(o.responseDuration),
		BatchDuration:        fakeai.Duration(o.batchDuration),
	}
	if o.faults != "" {
		raw := []byte(o.faults)
		if name, ok := strings.CutPrefix(o.faults, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("cannot read --faults file: %w", err)}
			}
			raw = b
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("cannot parse --faults: %w", err)}
		}
	}
	if err := f.Validate(); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("invalid fakeai faults: %w", err)}
	}
	if o.timeScale <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--time-scale %v must be > 0", o.timeScale)}
	}
	var clk clock.Clock = clock.Real{}
	if o.timeScale != 1 {
		clk = clock.NewScaled(o.timeScale)
	}
	srv := fakeai.New(fakeai.WithClock(clk), fakeai.WithFaults(f))
	defer srv.Close()
	ctx := cmd.Context()
	base, stop, err := srv.Start(ctx, o.listen)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer stop()
	fmt.Fprintln(cmd.OutOrStdout(), base)
	fmt.Fprintf(cmd.ErrOrStderr(), "fakeai: serving %s/v1 (control: %s/_fault, %s/_stats); stop with Ctrl-C\n", base, base, base)
	<-ctx.Done()
	return nil
}
