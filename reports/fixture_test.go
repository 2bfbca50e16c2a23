package reports

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The synthetic run every golden and rendering test uses: four scenarios
// shaped like real replays at --time-scale 60, generated from a fixed seed
// (math/rand/v2's PCG is specified, so the numbers never change). The
// failing scenario comes first so the checked-in screenshot shows a diagnosis.
//   - stderr-backpressure fails: the sync-stderr canary, a host that stops
//     reading stderr, 1.4 s and 0.9 s stalls seen by the prober, a diagnosis;
//   - back-to-back passes: sub-millisecond pings, a slow log sink that does
//     not reach the request path;
//   - gap-sweep is invalid: the prober fell behind;
//   - many-hosts passes: a steady open-model load and a capacity search.

const fixtureIntervalMS = 20.0

type pingGen struct {
	rng *rand.Rand
}

// base is a healthy ping: ~0.35 ms with a log-normal tail.
func (g pingGen) base() float64 {
	v := 0.35 * math.Exp(0.35*g.rng.NormFloat64())
	if g.rng.IntN(200) == 0 {
		v += 1 + 3*g.rng.Float64()
	}
	return v
}

// series generates pings every 20 ms in [startMS, endMS); stall(t) adds the
// coordinated-omission-corrected wait of a sample sent at t.
func (g pingGen) series(startMS, endMS float64, stall func(t float64) float64) []Sample {
	var out []Sample
	for t := startMS; t < endMS; t += fixtureIntervalMS {
		v := g.base()
		if stall != nil {
			v += stall(t)
		}
		out = append(out, Sample{TMS: t, Value: math.Round(v*1000) / 1000})
	}
	return out
}

// stallAt returns the extra latency of a sample sent at t when the server
// stops answering from at for dur ms: every sample sent meanwhile waits
// until the end (that is what measuring from the intended send time shows).
func stallAt(at, dur float64) func(t float64) float64 {
	return func(t float64) float64 {
		if t >= at && t < at+dur {
			return at + dur - t
		}
		return 0
	}
}

func latenciesOf(tb testing.TB, samples []Sample) *Latencies {
	tb.Helper()
	h := NewHistogram()
	for _, s := range samples {
		Record(h, time.Duration(s.Value*float64(time.Millisecond)))
	}
	l, err := NewLatencies(h)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// plotSeries keeps the maximum of each 250 ms bucket, as a runner would
// before storing a series for plots.
func plotSeries(samples []Sample) []Sample {
	var out []Sample
	const bucket = 250.0
	for _, s := range samples {
		b := math.Floor(s.TMS/bucket) * bucket
		if n := len(out); n > 0 && out[n-1].TMS == b {
			out[n-1].Value = math.Max(out[n-1].Value, s.Value)
			continue
		}
		out = append(out, Sample{TMS: b, Value: s.Value})
	}
	return out
}

func goroutineSeries(endMS float64, level func(t float64) float64) []Sample {
	var out []Sample
	for t := 0.0; t <= endMS; t += 500 {
		out = append(out, Sample{TMS: t, Value: level(t)})
	}
	return out
}

type phaseSpec struct {
	name       string
	start, end float64
	stall      func(float64) float64
}

func buildPhases(tb testing.TB, g pingGen, specs []phaseSpec) ([]Phase, []Sample) {
	var phases []Phase
	var all []Sample
	for _, sp := range specs {
		s := g.series(sp.start, sp.end, sp.stall)
		noop := g.series(sp.start, sp.end, sp.stall)
		for i := range noop {
			noop[i].Value = math.Round((noop[i].Value+0.15)*1000) / 1000
		}
		phases = append(phases, Phase{Name: sp.name, StartMS: sp.start, EndMS: sp.end, Ping: latenciesOf(tb, s), NoopTool: latenciesOf(tb, noop[:len(noop)/4])})
		all = append(all, s...)
	}
	return phases, all
}

func syntheticResult(tb testing.TB) *Result {
	tb.Helper()
	g := pingGen{rng: rand.New(rand.NewPCG(8, 2026))}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

	// back-to-back: pass.
	b2bPhases, b2bPings := buildPhases(tb, g, []phaseSpec{
		{name: "baseline", start: 0, end: 18000},
		{name: "fault:slow-sink", start: 18000, end: 42000},
		{name: "after", start: 42000, end: 48000},
	})
	b2b := Scenario{
		Name:        "back-to-back",
		Description: "Two context queries with 90 overflow files, same session; the second runs while the log sink answers in 5 s.",
		Source:      "000 post-mortem: hangs on the second query of a session",
		Verdict:     VerdictPass,
		Repeats:     1,
		StartedAt:   t0.Add(41 * time.Second),
		DurationMS:  48000,
		Phases:      b2bPhases,
		Faults:      []FaultWindow{{Name: "slow-sink", StartMS: 18000, EndMS: 42000}},
		Heartbeat:   &Heartbeat{IntervalMS: fixtureIntervalMS, SendLagP99MS: 0.21, Series: plotSeries(b2bPings)},
		Steps: []Step{
			{Index: 0, Kind: "call", Name: "context query", Tool: "consult", Session: "s1", Phase: "baseline", StartMS: 500, LatencyMS: 8240.5, Outcome: OutcomeOK, Expected: OutcomeOK, Pass: true},
			{Index: 1, Kind: "fault", Name: "slow sink on", Phase: "fault:slow-sink", StartMS: 18000, Outcome: OutcomeOK, Pass: true},
			{Index: 2, Kind: "call", Name: "context query again", Tool: "consult", Session: "s1", Phase: "fault:slow-sink", StartMS: 18100, LatencyMS: 9120.25, Outcome: OutcomeOK, Expected: OutcomeOK, Pass: true},
			{Index: 3, Kind: "call", Name: "list sessions", Tool: "sessions", Session: "s1", Phase: "fault:slow-sink", StartMS: 28000, LatencyMS: 3.1, Outcome: OutcomeOK, Expected: OutcomeOK, Pass: true},
			{Index: 4, Kind: "fault", Name: "slow sink off", Phase: "after", StartMS: 42000, Outcome: OutcomeOK, Pass: true},
		},
		Goroutines: goroutineSeries(48000, func(t float64) float64 {
			switch {
			case t >= 500 && t < 8740, t >= 18100 && t < 27220:
				return 31
			case t >= 18000 && t < 42000:
				return 17
			}
			return 14
		}),
		Logs: &LogAccount{Emitted: 1240, Delivered: 1022, Dropped: 218, DroppedBy: map[string]int64{"queue_full": 218}, SinkReceived: 1022},
		Checks: []Check{
			{Name: "heartbeat.ping.p99", Phase: "fault:slow-sink", Unit: "ms", Op: "<=", Threshold: 20.9, Pass: true, Detail: "max(2× baseline p99, baseline p99 + 20 ms)"},
			{Name: "heartbeat.ping.p999", Phase: "fault:slow-sink", Unit: "ms", Op: "<=", Threshold: 250, Pass: true},
			{Name: "heartbeat.ping.max", Unit: "ms", Op: "<", Threshold: 1000, Pass: true},
			{Name: "heartbeat.noop.p99", Phase: "fault:slow-sink", Unit: "ms", Op: "<=", Threshold: 100, Pass: true},
			{Name: "goroutines.leaked", Unit: "count", Op: "==", Threshold: 0, Value: 0, Pass: true},
			{Name: "logs.unaccounted", Unit: "count", Op: "==", Threshold: 0, Value: 0, Pass: true},
		},
	}
	fillHeartbeatChecks(&b2b)

	// stderr-backpressure: fail, with a diagnosis.
	sbPhases, sbPings := buildPhases(tb, g, []phaseSpec{
		{name: "baseline", start: 0, end: 15000},
		{name: "fault:stderr-undrained", start: 15000, end: 40000, stall: func(t float64) float64 {
			return stallAt(24200, 1420)(t) + stallAt(31800, 910)(t)
		}},
	})
	stack := []string{
		"internal/poll.(*FD).Write (fd_unix.go:380)",
		"os.(*File).Write (file.go:195)",
		"github.com/secondbrain-dev/secondbrain/server/logship.(*StderrHandler).Handle (stderr.go:71)",
		"log/slog.(*Logger).log (logger.go:256)",
		"github.com/secondbrain-dev/secondbrain/server/vectorstore.(*Manager).upload (manager.go:212)",
		"github.com/secondbrain-dev/secondbrain/server/tools.(*Consult).Handle (consult.go:148)",
		"github.com/mark3labs/mcp-go/server.(*MCPServer).handleToolCall (server.go:1187)",
	}
	sb := Scenario{
		Name:        "stderr-backpressure",
		Description: "Back-to-back context queries while the MCP host stops reading the server's stderr (the 64 KiB pipe fills).",
		Source:      "the original's real root cause: synchronous stderr logging into an undrained pipe",
		Canary:      "sync-stderr",
		Verdict:     VerdictFail,
		Repeats:     1,
		StartedAt:   t0,
		DurationMS:  40000,
		Phases:      sbPhases,
		Faults:      []FaultWindow{{Name: "stderr-undrained", StartMS: 15000, EndMS: 40000}},
		Heartbeat:   &Heartbeat{IntervalMS: fixtureIntervalMS, SendLagP99MS: 0.24, Timeouts: 0, Series: plotSeries(sbPings)},
		Steps: []Step{
			{Index: 0, Kind: "call", Name: "context query", Tool: "consult", Session: "s1", Phase: "baseline", StartMS: 400, LatencyMS: 7410, Outcome: OutcomeOK, Expected: OutcomeOK, Pass: true},
			{Index: 1, Kind: "fault", Name: "host stops reading stderr", Phase: "fault:stderr-undrained", StartMS: 15000, Outcome: OutcomeOK, Pass: true},
			{Index: 2, Kind: "call", Name: "second context query", Tool: "consult", Session: "s1", Phase: "fault:stderr-undrained", StartMS: 15200, LatencyMS: 20000, Outcome: OutcomeTimeout, Expected: OutcomeOK, Pass: false, Error: "context deadline exceeded after 20s (scaled)"},
			{Index: 3, Kind: "cancel", Name: "cancel the stuck call", Phase: "fault:stderr-undrained", StartMS: 35200, LatencyMS: 2.4, Outcome: OutcomeCancelled, Expected: OutcomeCancelled, Pass: true, CancelMS: 3.9, NextOKMS: 12.5},
		},
		Goroutines: goroutineSeries(40000, func(t float64) float64 {
			switch {
			case t >= 400 && t < 7810:
				return 30
			case t >= 15200 && t < 35200:
				return 38 + math.Floor((t-15200)/4000)
			case t >= 35200:
				return 15
			}
			return 14
		}),
		Logs: &LogAccount{Emitted: 980, Delivered: 980, SinkReceived: 980, StderrDropped: 0},
		Checks: []Check{
			{Name: "heartbeat.ping.p99", Phase: "fault:stderr-undrained", Unit: "ms", Op: "<=", Threshold: 20.8, Detail: "max(2× baseline p99, baseline p99 + 20 ms)"},
			{Name: "heartbeat.ping.p999", Phase: "fault:stderr-undrained", Unit: "ms", Op: "<=", Threshold: 250},
			{Name: "heartbeat.ping.max", Unit: "ms", Op: "<", Threshold: 1000},
			{Name: "cancel.to_return.p99", Unit: "ms", Op: "<=", Threshold: 100, Value: 3.9, Pass: true},
			{Name: "goroutines.leaked", Unit: "count", Op: "==", Threshold: 0, Value: 0, Pass: true},
			{Name: "request_path.wait_in_logging.max", Unit: "ms", Op: "<=", Threshold: 100, Value: 1412, Pass: false, Detail: "goroutine profile at breach"},
		},
		Diagnosis: &Diagnosis{
			Cause:   "log shipping I/O on the request path",
			Culprit: "github.com/secondbrain-dev/secondbrain/server/logship.(*StderrHandler).Handle (stderr.go:71)",
			Summary: "6 request-path goroutines were stuck writing to stderr (a pipe the host no longer reads) for up to 1.41 s; the prober's stall began at 24.2 s.",
			Frames: []Culprit{
				{Frame: "github.com/secondbrain-dev/secondbrain/server/logship.(*StderrHandler).Handle (stderr.go:71)", Cause: "log shipping I/O on the request path", Goroutines: 6, WaitMS: 1412, Source: "goroutine", Stack: stack},
				{Frame: "github.com/secondbrain-dev/secondbrain/server/logship.(*StderrHandler).Handle (stderr.go:64)", Cause: "semaphore/lock held", Goroutines: 5, WaitMS: 1380.5, Source: "mutex", Stack: []string{
					"sync.(*Mutex).Lock (mutex.go:81)",
					"github.com/secondbrain-dev/secondbrain/server/logship.(*StderrHandler).Handle (stderr.go:64)",
					"log/slog.(*Logger).log (logger.go:256)",
					"github.com/mark3labs/mcp-go/server.(*MCPServer).HandleMessage (request_handler.go:87)",
				}},
				{Frame: "net/http.(*persistConn).roundTrip (transport.go:2805)", Cause: "slow upstream", Goroutines: 2, WaitMS: 212, Source: "block"},
			},
			Profiles: []string{"profiles/stderr-backpressure-goroutine-breach.pb.gz", "profiles/stderr-backpressure-block.pb.gz", "profiles/stderr-backpressure-trace.out"},
		},
	}
	fillHeartbeatChecks(&sb)

	// gap-sweep: invalid, the harness fell behind.
	gsPhases, gsPings := buildPhases(tb, g, []phaseSpec{
		{name: "gap-60s", start: 0, end: 6000},
		{name: "gap-90s", start: 6000, end: 13000},
	})
	gs := Scenario{
		Name:        "gap-sweep",
		Description: "First call after each gap across idle-timeout boundaries must succeed.",
		Source:      "001 known issues: the first query after a pause hangs",
		Verdict:     VerdictInvalid,
		Invalid:     "prober send lag p99 5.3 ms > 2 ms: the machine was too busy to judge",
		Repeats:     1,
		StartedAt:   t0.Add(95 * time.Second),
		DurationMS:  13000,
		Phases:      gsPhases,
		Heartbeat:   &Heartbeat{IntervalMS: fixtureIntervalMS, SendLagP99MS: 5.3, DroppedTicks: 12, Series: plotSeries(gsPings)},
		Steps: []Step{
			{Index: 0, Kind: "call", Name: "first call after 60 s", Tool: "consult", Phase: "gap-60s", StartMS: 1000, LatencyMS: 2210, Outcome: OutcomeOK, Expected: OutcomeOK, Pass: true},
			{Index: 1, Kind: "gap", Name: "90 s", Phase: "gap-90s", StartMS: 6000, LatencyMS: 1500, Outcome: OutcomeOK, Pass: true},
			{Index: 2, Kind: "call", Name: "first call after 90 s", Tool: "consult", Phase: "gap-90s", StartMS: 7500, LatencyMS: 2350, Outcome: OutcomeError, Expected: OutcomeOK, Pass: false, Error: "connection reset by peer"},
		},
		Checks: []Check{
			{Name: "gap.first_call.success", Unit: "ratio", Op: ">=", Threshold: 1, Value: 0.5, Pass: false},
			{Name: "prober.send_lag.p99", Unit: "ms", Op: "<=", Threshold: 2, Value: 5.3, Pass: false},
		},
	}
	fillHeartbeatChecks(&gs)

	// many-hosts: pass, open-model loads only (load_fixture_test.go).
	mh := manyHostsScenario(tb, t0.Add(109*time.Second))

	return &Result{
		SchemaVersion: SchemaVersion,
		Run: RunInfo{
			ID:         "20261125T080000-8",
			StartedAt:  t0,
			FinishedAt: t0.Add(170 * time.Second),
			TimeScale:  60,
			Transport:  "stdio",
			Seed:       8,
			GoVersion:  "go1.26.8",
			GOOS:       "linux",
			GOARCH:     "amd64",
			NumCPU:     2,
			Version:    "v0.1.0-test",
			Verdict:    VerdictInvalid,
		},
		Scenarios: []Scenario{sb, b2b, gs, mh},
	}
}

// fillHeartbeatChecks sets the measured values of the heartbeat checks from
// the phases' histograms, the way the probes would, so the fixture agrees
// with itself.
func fillHeartbeatChecks(sc *Scenario) {
	phase := map[string]*Phase{}
	var maxMS float64
	for i := range sc.Phases {
		phase[sc.Phases[i].Name] = &sc.Phases[i]
		maxMS = math.Max(maxMS, sc.Phases[i].Ping.Max)
	}
	for i := range sc.Checks {
		c := &sc.Checks[i]
		var v float64
		switch c.Name {
		case "heartbeat.ping.p99":
			v = phase[c.Phase].Ping.P99
		case "heartbeat.ping.p999":
			v = phase[c.Phase].Ping.P999
		case "heartbeat.noop.p99":
			v = phase[c.Phase].NoopTool.P99
		case "heartbeat.ping.max":
			v = maxMS
		default:
			continue
		}
		c.Value = v
		if c.Op == "<" {
			c.Pass = v < c.Threshold
		} else {
			c.Pass = v <= c.Threshold
		}
	}
}
