package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/secondbrain-dev/secondbrain/scenarios"
)

// loadOpts are the flags of `secondbrain load` beyond replay's.
type loadOpts struct {
	replayOpts
	rate, startRate   float64
	duration          time.Duration
	stages            string
	calls             []string
	sessions          int
	churnEvery        int
	inFlight          int
	timeout           time.Duration
	p99               time.Duration
	errRatio, dropped float64
	minRate           float64
	project           string
	files             int

	findLimit              bool
	start, max, resolution float64
	trial, cooldown        time.Duration
	floor                  float64
}

// defaultLoadCalls is the mix against this binary's server: no-context
// model calls, a context call sending the generated project, a utility
// tool.
var defaultLoadCalls = []string{"chat_with_gemini25_flash:6", "chat_with_gemini25_flash+context:1", "list_models:3"}

func newLoadCmd() *cobra.Command {
	var o loadOpts
	o.baselineHold = -1
	cmd := &cobra.Command{
		Use:   "load [flags]",
		Short: "Open-model load against the server, or find its capacity",
		Long: `Send calls at a fixed arrival rate (or in stages), whether or not earlier calls have
returned, and measure each call from its intended time (corrected for coordinated
omission) and from when it was written (raw), per tool, with error classes and
dropped arrivals — while the heartbeat, the profiles and the diagnosis watch the
server as in every replay. --find-limit raises the rate until p99, errors or dropped
arrivals break their limits and reports the highest rate that held (the capacity).

The server is this binary's serve with the embedded fakes (stdio or --transport http),
or --server-cmd (stdio) with a mix of its own tools: --call TOOL[:WEIGHT[:JSON-ARGS]].
A model tool's call sends no files unless the tool is written TOOL+context (the whole
generated project). Rates and durations are real time.

Reports go to --out as for replay (result.json with a "loads" entry, report.html with
throughput and latency over time and latency against offered load, .hlog files).
Exit status as for replay.`,
		Example: `  secondbrain load --rate 500 --duration 20s --transport http
  secondbrain load --find-limit --start 100 --max 8000 --transport http
  secondbrain load --server-cmd "node server.js" --call 'echo:1:{"message":"hi"}' --rate 200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := scenarios.CheckProtocol(o.protocol); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--protocol: %w", err)}
			}
			sc, err := o.scenario()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if o.baselineHold < 0 {
				o.baselineHold = baselineHoldFor(o.heartbeat)
			}
			defer withProberProcs()()
			return replayScenarios(cmd.Context(), o.replayOpts, []*scenarios.Scenario{sc}, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.flags(cmd)
	return cmd
}

func (o *loadOpts) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Float64Var(&o.rate, "rate", 100, "arrivals per second (constant), or the start rate before --stages")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to hold --rate")
	f.StringVar(&o.stages, "stages", "", "rate stages instead of a constant rate, DURATION:RATE,… e.g. 10s:200,20s:200,10s:800 (the rate moves linearly from --rate to each stage's)")
	f.StringArrayVar(&o.calls, "call", nil, "a call of the mix, TOOL[:WEIGHT[:JSON-ARGS]], repeatable (default "+strings.Join(defaultLoadCalls, ", ")+")")
	f.IntVar(&o.sessions, "sessions", 4, "spread calls over this many sessions (MCP sessions over HTTP, session_ids over stdio)")
	f.IntVar(&o.churnEvery, "churn-every", 10, "renew a session after this many calls, as a host starts a new conversation (0: never; 1: every call a fresh session) — a conversation grows with each call")
	f.IntVar(&o.inFlight, "max-in-flight", 256, "bound on calls in flight (and HTTP connections); an arrival finding it reached is dropped and counted")
	f.DurationVar(&o.timeout, "call-timeout", scenarios.DefaultLoadTimeout, "a call unanswered this long after its intended time is a timeout")
	f.DurationVar(&o.p99, "p99", 0, "limit on the corrected p99 of all calls (0: unchecked; --find-limit default 1s)")
	f.Float64Var(&o.errRatio, "max-error-ratio", 0, "limit on failed calls / answered calls")
	f.Float64Var(&o.dropped, "max-dropped-ratio", 0, "limit on dropped arrivals / scheduled arrivals")
	f.Float64Var(&o.minRate, "min-rate", 0, "floor on answered calls per second (0: unchecked)")
	f.StringVar(&o.project, "project", "", "directory the context calls send (default: a generated tree of --files files)")
	f.IntVar(&o.files, "files", 12, "files of the generated project tree (8 KiB each)")
	f.BoolVar(&o.findLimit, "find-limit", false, "search the capacity: trials at rising rates, then bisection")
	f.Float64Var(&o.start, "start", 50, "--find-limit: first rate")
	f.Float64Var(&o.max, "max", 20000, "--find-limit: highest rate tried")
	f.DurationVar(&o.trial, "trial", 5*time.Second, "--find-limit: how long each rate is held")
	f.DurationVar(&o.cooldown, "cooldown", time.Second, "--find-limit: idle time between trials")
	f.Float64Var(&o.resolution, "resolution", 0.05, "--find-limit: stop when the passing and failing rates are this close (0.05 = 5 %)")
	f.Float64Var(&o.floor, "floor", 0, "--find-limit: fail unless the capacity is at least this (calls/s)")
	f.Float64Var(&o.timeScale, "time-scale", scenarios.DefaultTimeScale, "run the fakes' latencies this many times faster")
	f.StringVar(&o.out, "out", "out", "directory for result.json and the other reports (\"\" = none)")
	f.BoolVar(&o.json, "json", false, "print result.json to stdout (progress goes to stderr)")
	f.Int64Var(&o.seed, "seed", 1, "seed of the mix's draws and the generated tree")
	f.StringVar(&o.transport, "transport", scenarios.DefaultTransport, "MCP transport: stdio or http")
	f.StringVar(&o.protocol, "protocol", scenarios.ProtocolLegacy, "MCP protocol version: "+scenarios.ProtocolLegacy+" or "+scenarios.ProtocolStateless)
	f.StringVar(&o.serverCmd, "server-cmd", "", "load this MCP server command over stdio instead of this binary's serve (split on spaces); give its tools with --call")
	f.DurationVar(&o.heartbeat, "heartbeat-interval", defaultPingInterval, "heartbeat ping interval (<0 disables pings)")
	f.DurationVar(&o.noop, "noop-interval", defaultNoopInterval, "heartbeat no-op tool call interval (<0 disables them)")
	f.DurationVar(&o.dumpEvery, "dump-every", scenarios.DefaultDumpEvery, "take a server goroutine dump this often while the load runs")
	f.IntVar(&o.retryInvalid, "retry-invalid", 0, "run again, up to this many times, when the run was invalid")
	f.Var((*autoDuration)(&o.baselineHold), "baseline-hold", "idle the server this long before the load (heartbeat baseline); auto: 1,100 ping intervals")
}

// scenario writes the flags as a one-step scenario and parses it, so the
// command line gets the scenario format's checks and messages.
func (o *loadOpts) scenario() (*scenarios.Scenario, error) {
	if o.serverCmd != "" && len(o.calls) == 0 {
		return nil, errors.New("--server-cmd needs its tools: give the mix with --call TOOL[:WEIGHT[:JSON-ARGS]]")
	}
	calls := o.calls
	if len(calls) == 0 {
		calls = defaultLoadCalls
	}
	mix, err := parseCalls(calls)
	if err != nil {
		return nil, err
	}
	step := map[string]any{"name": "cli", "mix": mix, "sessions": o.sessions, "churn_every": o.churnEvery,
		"max_in_flight": o.inFlight, "timeout": o.timeout.String(),
		"thresholds": map[string]any{"p99": o.p99.String(), "error_ratio": o.errRatio, "dropped_ratio": o.dropped, "min_rate": o.minRate}}
	switch {
	case o.findLimit:
		step["find_limit"] = map[string]any{"start": o.start, "max": o.max, "trial": o.trial.String(),
			"resolution": o.resolution, "cooldown": o.cooldown.String(), "floor": o.floor}
	case o.stages != "":
		st, err := parseStages(o.stages)
		if err != nil {
			return nil, err
		}
		step["start_rate"], step["stages"] = o.rate, st
	default:
		step["rate"], step["duration"] = o.rate, o.duration.String()
	}
	doc := map[string]any{
		"name":        "load",
		"description": "secondbrain load: " + strings.Join(calls, " "),
		"source":      map[string]any{"seed": "(command line)", "quote": "secondbrain load"},
		"steps":       []any{map[string]any{"phase": "load"}, map[string]any{"load": step}},
	}
	if o.project != "" {
		doc["project"] = map[string]any{"path": o.project}
	} else {
		doc["project"] = map[string]any{"files": o.files, "size": "8KiB", "inline_files": 4, "inline_size": "1KiB"}
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("cannot write the load as a scenario: %w", err)
	}
	return scenarios.Parse("(command line)", data)
}

// parseCalls reads --call values: TOOL[:WEIGHT[:JSON-ARGS]].
func parseCalls(calls []string) ([]any, error) {
	var mix []any
	for _, c := range calls {
		parts := strings.SplitN(c, ":", 3)
		tool, weight := parts[0], 1
		call := map[string]any{}
		// A scenario call with no context key sends the whole project to
		// a model tool and nothing to any other: say which is meant.
		if t, ok := strings.CutSuffix(tool, "+context"); ok {
			tool = t
			call["context"] = []string{"."}
		} else if scenarios.IsModelTool(tool) {
			call["context"] = []string{}
		}
		call["tool"] = tool
		if len(parts) > 1 && parts[1] != "" {
			w, err := strconv.Atoi(parts[1])
			if err != nil || w < 1 {
				return nil, fmt.Errorf("--call %q: weight %q: want a whole number ≥ 1", c, parts[1])
			}
			weight = w
		}
		if len(parts) > 2 {
			var args map[string]any
			if err := json.Unmarshal([]byte(parts[2]), &args); err != nil {
				return nil, fmt.Errorf("--call %q: arguments: want a JSON object: %w", c, err)
			}
			call["args"] = args
		}
		mix = append(mix, map[string]any{"weight": weight, "call": call})
	}
	return mix, nil
}

// parseStages reads --stages: DURATION:RATE,…
func parseStages(s string) ([]any, error) {
	var out []any
	for _, part := range strings.Split(s, ",") {
		d, r, ok := strings.Cut(strings.TrimSpace(part), ":")
		dur, err := time.ParseDuration(d)
		rate, rerr := strconv.ParseFloat(r, 64)
		if !ok || err != nil || rerr != nil {
			return nil, fmt.Errorf("--stages %q: stage %q: want DURATION:RATE, e.g. 10s:200", s, part)
		}
		out = append(out, map[string]any{"duration": dur.String(), "rate": rate})
	}
	return out, nil
}
