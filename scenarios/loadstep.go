package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/scenarios/load"
)

// loadWakeLagBound is the generator's own lateness (its clock's wake lag
// p99) above which a load's latencies may say more about the generator
// than about the server: the prober's bound (a run whose prober lags
// more is invalid).
const loadWakeLagBound = 2 * time.Millisecond

// loadStep runs a load step (or its capacity search) and records its
// Load, its checks and a step. Only a broken harness returns an error.
func (ru *run) loadStep(ctx context.Context, l *Load) error {
	rs := ru.begin(KindLoad, "load "+l.LoadName())
	rs.Expected = OutcomeOK
	began := time.Since(ru.start)
	sender, names, closeSender, conns, err := ru.loadSender(ctx, l)
	if err != nil {
		ru.finish(rs, OutcomeError, err.Error(), false)
		return err
	}
	defer closeSender()
	mix, err := load.NewMix(l.mixEntries(), uint64(ru.r.opts.Seed))
	if err != nil {
		ru.finish(rs, OutcomeError, err.Error(), false)
		return err
	}
	opts := load.Options{Mix: mix, MaxInFlight: l.InFlight(), Timeout: l.CallTimeout(), Clock: wake.New()}
	prevPhase := ru.phase
	onTrial := func(rate float64) { ru.setPhase(trialPhase(l.LoadName(), rate)) }
	stats, capacity, err := playLoad(ctx, l, opts, sender, names, onTrial)
	if l.FindLimit != nil {
		ru.setPhase(prevPhase)
	}
	if err != nil && stats == nil {
		ru.finish(rs, OutcomeError, err.Error(), false)
		return err
	}
	rec, rerr := stats.Report(mix, loadTools(l))
	if rerr != nil {
		ru.finish(rs, OutcomeError, rerr.Error(), false)
		return rerr
	}
	rec.Step, rec.Name, rec.StartMS = rs.Index, l.LoadName(), reports.Millis(began)
	if h, ok := sender.(*httpLoad); ok {
		rec.Retried = h.Retried()
	}
	rec.Transport, rec.Sessions, rec.Connections, rec.Capacity = ru.transport, l.SessionCount(), conns, capacity
	checks := loadChecks(l, rec)
	rec.Invalid = loadInvalid(rec, checks)
	pass := true
	for _, c := range checks {
		pass = pass && c.Pass
	}
	ru.bgMu.Lock()
	ru.res.Loads = append(ru.res.Loads, *rec)
	ru.res.Checks = append(ru.res.Checks, checks...)
	ru.bgMu.Unlock()
	rs.Detail = loadLine(rec)
	ru.finish(rs, OutcomeOK, errText(err), pass && err == nil)
	return ctx.Err()
}

// playLoad runs the profile, or the capacity search; a search returns
// the stats of its highest passing trial, else of its last. Each trial
// starts sessions of its own: one trial's conversations would otherwise
// make the next one's calls longer.
func playLoad(ctx context.Context, l *Load, o load.Options, s load.Sender, names *sessionNames, onTrial func(rate float64)) (*load.Stats, *reports.Capacity, error) {
	if l.FindLimit == nil {
		o.Profile = l.Profile()
		st, err := load.Run(ctx, o, s)
		return st, nil, err
	}
	f := l.FindLimit
	var last *load.Stats
	trial := func(ctx context.Context, rate float64) (*load.Stats, error) {
		o := o
		o.Profile = load.Constant(rate, f.Trial.D())
		names.round++
		onTrial(rate)
		st, err := load.Run(ctx, o, s)
		if st != nil {
			last = st
		}
		return st, err
	}
	c, best, err := load.Search(ctx, searchOptions(l), trial)
	if best == nil {
		best = last
	}
	return best, c, err
}

func searchOptions(l *Load) load.SearchOptions {
	f, th := l.FindLimit, l.Thresholds
	o := load.SearchOptions{Start: f.Start, Max: f.Max, Resolution: f.Resolution, Cooldown: f.Cooldown.D(),
		Limits: load.Limits{P99: th.P99.D(), ErrorRatio: th.ErrorRatio, DroppedRatio: th.DroppedRatio, MaxSendLag: loadWakeLagBound}}
	if o.Resolution <= 0 {
		o.Resolution = 0.1
	}
	if o.Limits.P99 <= 0 {
		o.Limits.P99 = defaultSearchP99
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 500 * time.Millisecond
	}
	return o
}

func loadTools(l *Load) map[string]string {
	tools := map[string]string{}
	for _, m := range l.Mix {
		tools[entryName(m.Call)] = m.Call.Tool
	}
	return tools
}

// loadSender connects the load: through the heartbeat's pipe over stdio;
// over HTTP, connections of its own and, at 2025-11-25, sessions opened
// by the scenario's client. It returns the connection count (0: a pipe).
func (ru *run) loadSender(ctx context.Context, l *Load) (load.Sender, *sessionNames, func(), int, error) {
	version := ru.r.opts.Protocol
	templates, err := ru.loadTemplates(l, version)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	if ru.transport != "http" {
		if ru.sess.pinger == nil {
			return nil, nil, nil, 0, fmt.Errorf("cannot load over stdio: the session has no pipe to write into")
		}
		names := newSessionNames(l.LoadName(), l.SessionCount(), l.ChurnEvery, 1)
		s, stop := newStdioLoad(ru.sess.pinger, templates, names, l.InFlight(), ru.sess.guard)
		return s, names, stop, 0, nil
	}
	var ids []string
	var opened []*Session
	closeAll := func() {
		for _, s := range opened {
			_ = s.Close()
		}
	}
	if !ru.sess.stateless {
		for range l.SessionCount() {
			s, err := ru.dial(ctx)
			if err != nil {
				closeAll()
				return nil, nil, nil, 0, fmt.Errorf("cannot open the load's MCP sessions: %w", err)
			}
			opened = append(opened, s)
			ids = append(ids, s.c.GetSessionId())
		}
	}
	tools := make([]string, len(templates))
	for i, t := range templates {
		tools[i] = t.tool
	}
	names := newSessionNames(l.LoadName(), l.SessionCount(), l.ChurnEvery, len(ids))
	h, err := newHTTPLoad(ctx, ru.mcpURL, l.InFlight(), l.InFlight(), templates, names, loadHeaders(version, tools, ids))
	if err != nil {
		closeAll()
		return nil, nil, nil, 0, err
	}
	return h, names, func() { h.Close(); closeAll() }, l.InFlight(), nil
}

// loadChecks judges a load by its thresholds.
func loadChecks(l *Load, rec *reports.Load) []reports.Check {
	name, th := rec.Name, l.Thresholds
	var total reports.Latencies
	if ls := reports.LoadLatency(rec); ls != nil {
		total = *ls
	}
	var out []reports.Check
	add := func(c reports.Check) { out = append(out, c) }
	errRatio, dropRatio := ratio(rec.Errors, rec.Completed), ratio(rec.Dropped, rec.Scheduled)
	if l.FindLimit == nil {
		add(reports.Check{Name: "load_error_ratio[" + name + "]", Value: errRatio, Unit: "ratio", Op: "<=", Threshold: th.ErrorRatio,
			Pass: errRatio <= th.ErrorRatio, Detail: errorDetail(rec), Samples: rec.Completed})
		add(reports.Check{Name: "load_dropped_ratio[" + name + "]", Value: dropRatio, Unit: "ratio", Op: "<=", Threshold: th.DroppedRatio,
			Pass: dropRatio <= th.DroppedRatio, Samples: rec.Scheduled,
			Detail: fmt.Sprintf("%d of %d arrivals found %d calls in flight and were not sent", rec.Dropped, rec.Scheduled, rec.MaxInFlight)})
		if th.P99 > 0 {
			lim := reports.Millis(th.P99.D())
			add(reports.Check{Name: "load_p99[" + name + "]", Value: total.P99, Unit: "ms", Op: "<=", Threshold: lim,
				Pass: total.Count > 0 && total.P99 <= lim, Samples: total.Count, Detail: "corrected: from each call's intended time"})
		}
		if th.MinRate > 0 {
			add(reports.Check{Name: "load_rate[" + name + "]", Value: rec.AchievedRate, Unit: "calls/s", Op: ">=", Threshold: th.MinRate,
				Pass: rec.AchievedRate >= th.MinRate, Detail: fmt.Sprintf("offered %.1f/s", rec.OfferedRate)})
		}
	}
	if c := rec.Capacity; c != nil && l.FindLimit.Floor > 0 {
		add(reports.Check{Name: "capacity[" + name + "]", Value: c.Rate, Unit: "calls/s", Op: ">=", Threshold: l.FindLimit.Floor,
			Pass: c.Rate >= l.FindLimit.Floor, Detail: reports.CapacityLine(c)})
	}
	return out
}

func ratio(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// errorDetail lists a load's failures by tool and class, with each
// class's first message.
func errorDetail(rec *reports.Load) string {
	var parts []string
	for i := range rec.Tools {
		t := &rec.Tools[i]
		for _, e := range reports.LoadErrors(t) {
			parts = append(parts, fmt.Sprintf("%s %s ×%d: %s", t.Name, e.Class, e.Count, truncate(e.Sample, 120)))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d calls, none failed", rec.Completed)
	}
	return strings.Join(parts, "; ")
}

// loadLine is the step's one-line summary: the load's figures, its
// latency and, for a search, its capacity.
func loadLine(rec *reports.Load) string {
	s := reports.LoadSummaryLine(rec)
	if l := reports.LoadLatency(rec); l != nil {
		s += "; p50 " + reports.FormatMS(l.P50) + ", p99 " + reports.FormatMS(l.P99)
	}
	if rec.Capacity != nil {
		s += "; " + reports.CapacityLine(rec.Capacity)
	}
	return s
}

// loadInvalid says why a load's verdict may be the generator's rather
// than the server's, or "": for a capacity search, when it stopped at a
// trial the generator was too late to judge (its capacity is then only a
// floor); for a plain load, when its clock woke late past the bound (the
// clock's own lateness is the generator's; the rest of the send lag, a
// stdin pipe the server did not read, is the server's) and its p99 check
// failed by no more than that lateness. A late generator only makes a
// load look worse — overdue arrivals go out at once and latency counts
// from the intended time — so a pass, errors and drops stand, and report
// diff compares such a load as any other.
func loadInvalid(rec *reports.Load, checks []reports.Check) string {
	if c := rec.Capacity; c != nil {
		for _, t := range c.Trials {
			if t.Invalid != "" {
				return fmt.Sprintf("the capacity search stopped at %v/s, where the generator fell behind (%s): the capacity is a floor", t.Rate, t.Invalid)
			}
		}
		return ""
	}
	if rec.WakeLag == nil || rec.WakeLag.P99 <= reports.Millis(loadWakeLagBound) {
		return ""
	}
	for _, c := range checks {
		if c.Name == "load_p99["+rec.Name+"]" && !c.Pass && c.Value-c.Threshold <= rec.WakeLag.Max {
			return fmt.Sprintf("its clock woke p99 %.2f ms late (> %v), and its p99 failed by no more than that", rec.WakeLag.P99, loadWakeLagBound)
		}
	}
	return ""
}

// judgeLoadValidity makes a scenario invalid when a load could not be
// judged (loadInvalid) and nothing fails that the load's generator does
// not explain: a failed step other than that load's, or any failed check
// but that load's p99 (a plain load) or capacity floor (a search stopped
// by its generator), keeps the verdict fail. A heartbeat that fell behind
// is the watcher's to judge.
func judgeLoadValidity(res *reports.Scenario) {
	if res.Invalid != "" || !reports.Failed(res) {
		return
	}
	var why []string
	explained := map[string]bool{}
	for _, l := range res.Loads {
		if l.Invalid == "" {
			continue
		}
		why = append(why, "load "+l.Name+": "+l.Invalid)
		explained["load_p99["+l.Name+"]"] = l.Capacity == nil
		explained["capacity["+l.Name+"]"] = l.Capacity != nil
	}
	if len(why) == 0 {
		return
	}
	for _, st := range res.Steps {
		if !st.Pass && st.Kind != KindLoad {
			return
		}
	}
	for _, c := range res.Checks {
		if !c.Pass && !explained[c.Name] {
			return
		}
	}
	res.Invalid = strings.Join(why, "; ") + " — not a verdict on the server; run it on a quieter machine or at a lower rate"
}

// trialPhase names the heartbeat's phase during a capacity trial.
func trialPhase(load string, rate float64) string { return fmt.Sprintf("%s-at-%v", load, rate) }

// judgedShare is the share of the capacity up to which a capacity
// search's trials are judged by the heartbeat: the question a load test
// answers is what pings and cancels do at 80 % of the limit — at the
// limit itself the server's CPUs are full and pings wait for one.
const judgedShare = 0.8

// unjudgedPhases are the phases of capacity trials beyond the limit, or
// above judgedShare of it: the server was driven there on purpose, and
// the trials record how it fared; the heartbeat there is measured and
// reported, but no heartbeat threshold (nor the prober's validity)
// judges it.
func unjudgedPhases(res *reports.Scenario) map[string]string {
	skip := map[string]string{}
	for _, l := range res.Loads {
		c := l.Capacity
		if c == nil {
			continue
		}
		for _, t := range c.Trials {
			switch {
			case !t.Pass:
				skip[trialPhase(l.Name, t.Rate)] = fmt.Sprintf("capacity trial at %v/s beyond the limit (%s%s)", t.Rate, t.Broke, t.Invalid)
			case t.Rate > judgedShare*c.Rate:
				skip[trialPhase(l.Name, t.Rate)] = fmt.Sprintf("capacity trial at %v/s, above %.0f %% of the capacity %v/s", t.Rate, judgedShare*100, c.Rate)
			}
		}
	}
	return skip
}
