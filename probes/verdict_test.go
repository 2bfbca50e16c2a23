package probes

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"

	"github.com/goccy/go-yaml"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// phaseOf builds a heartbeat phase whose pings take the given latencies.
func phaseOf(name string, ping []time.Duration, noop []time.Duration, noopTimeouts int64) PhaseSnapshot {
	p := PhaseSnapshot{Name: name, Ping: KindStats{Hist: NewHistogram()}, Noop: KindStats{Hist: NewHistogram(), Timeouts: noopTimeouts}}
	for _, d := range ping {
		recordClamped(p.Ping.Hist, d)
	}
	for _, d := range noop {
		recordClamped(p.Noop.Hist, d)
	}
	return p
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func findCheck(cs []reports.Check, name, phase string) (reports.Check, bool) {
	for _, c := range cs {
		if c.Name == name && c.Phase == phase {
			return c, true
		}
	}
	return reports.Check{}, false
}

func TestThresholds_Evaluate(t *testing.T) {
	th := DefaultThresholds()
	base := phaseOf("baseline", repeat(time.Millisecond, 1000), repeat(2*time.Millisecond, 1000), 0)
	// fault phase: 3% of pings at 30 ms (beyond what chance puts above a
	// p99 in 1,000 samples), one 1.2 s stall, noop p99 fine.
	faultPings := append(repeat(time.Millisecond, 970), repeat(30*time.Millisecond, 29)...)
	faultPings = append(faultPings, 1200*time.Millisecond)
	fault := phaseOf("fault:slow-sink", faultPings, repeat(3*time.Millisecond, 1000), 1)
	hb := &HeartbeatSnapshot{Interval: 20 * time.Millisecond, NoopInterval: 20 * time.Millisecond, Phases: []PhaseSnapshot{base, fault}, SendLag: NewHistogram()}
	three := int64(3)
	waits := 0
	cost := 30 * time.Microsecond
	m := Measurements{
		Heartbeat:            hb,
		CancelToReturn:       []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 150 * time.Millisecond},
		CancelStuck:          []time.Duration{},
		CancelToNextOK:       []time.Duration{300 * time.Millisecond},
		ResponsesAfterCancel: &three,
		Leak:                 &LeakResult{BaselineGoroutines: 20, Goroutines: 22, LeakedGoroutines: 2, BaselineFDs: 10, FDs: 10, LeakedFDs: 0},
		Logs:                 &reports.LogAccount{Emitted: 100, Delivered: 95, Dropped: 5, SinkReceived: 95},
		HealthySink:          true,
		RequestLogWaits:      &waits,
		LoggerCostP99:        &cost,
	}
	cs := th.Evaluate(m)
	f := func(name, phase string, wantValue float64, wantThreshold float64, wantPass bool) {
		t.Helper()
		c, ok := findCheck(cs, name, phase)
		if !ok {
			t.Errorf("no check %s[%s]", name, phase)
			return
		}
		if c.Pass != wantPass || (wantValue >= 0 && !near(c.Value, wantValue)) || (wantThreshold >= 0 && !near(c.Threshold, wantThreshold)) {
			t.Errorf("%s[%s] = value %.3f %s %.3f pass=%v; want value %.3f threshold %.3f pass=%v (%s)",
				name, phase, c.Value, c.Op, c.Threshold, c.Pass, wantValue, wantThreshold, wantPass, c.Detail)
		}
	}
	f("heartbeat.ping.p99", "baseline", 1, 50, true)
	f("heartbeat.ping.max", "baseline", 1, 1000, true)
	f("heartbeat.ping.p99", "fault:slow-sink", 30, 50, true)
	// relative: max(2 × 1 ms, 1 ms + 20 ms) = 21 ms < 30 ms
	f("heartbeat.ping.p99_vs_baseline", "fault:slow-sink", 30, 21, false)
	f("heartbeat.ping.p999", "fault:slow-sink", 30, 250, true)
	f("heartbeat.ping.max", "fault:slow-sink", 1200, 1000, false)
	f("heartbeat.noop.p99_vs_baseline", "fault:slow-sink", 3, 22, true)
	f("heartbeat.noop.timeouts", "fault:slow-sink", 1, 0, false)
	f("cancel.return_p99", "", 150, 100, false)
	f("cancel.stuck", "", 0, 0, true)
	f("cancel.next_ok_max", "", 300, 1000, true)
	f("cancel.responses_after_cancel", "", 3, 0, false)
	f("leak.goroutines", "", 2, 0, false)
	f("leak.fds", "", 0, 0, true)
	f("logs.unaccounted", "", 0, 0, true)
	f("logs.healthy_sink_dropped", "", 5, 0, false)
	f("logs.sink_mismatch", "", 0, 0, true)
	f("logs.request_path_waits", "", 0, 0, true)
	f("logs.logger_cost_p99", "", 0.03, 0.05, true)
	if _, ok := findCheck(cs, "heartbeat.ping.p99_vs_baseline", "baseline"); ok {
		t.Error("the baseline is not compared to itself")
	}
	if _, ok := findCheck(cs, "cancel.upstream_abort_max", ""); ok {
		t.Error("unmeasured values make no check")
	}
	for _, c := range cs {
		if c.Op == "" || c.Unit == "" {
			t.Errorf("check %+v lacks op or unit", c)
		}
	}
}

// TestThresholds_shortPhaseP99: in a phase of fewer than 100 pings the p99
// tolerates one slow sample, as it tolerates 1% of a long phase; two slow
// samples still fail, the max is still judged, and a long phase keeps the
// plain p99.
func TestThresholds_shortPhaseP99(t *testing.T) {
	th := DefaultThresholds()
	base := phaseOf("baseline", repeat(2*time.Millisecond, 1000), repeat(2*time.Millisecond, 1000), 0)
	ms := time.Millisecond
	cases := []struct {
		name      string
		pings     []time.Duration
		wantP99   float64
		wantPass  bool
		wantDelta string
	}{
		// A true p99 at the limit puts more than 3 of 41 above it in
		// fewer than 1 run of 1,000; more than 21 of 1,000 likewise.
		{"three slow of 41", append(repeat(2*ms, 38), repeat(41*ms, 3)...), 2, true, "3 sample(s) may exceed"},
		{"four slow of 41", append(repeat(2*ms, 37), repeat(41*ms, 4)...), 41, false, "3 sample(s) may exceed"},
		{"one slow of 1", []time.Duration{41 * ms}, 41, false, "n=1"},
		{"21 slow of 1000", append(repeat(2*ms, 979), repeat(41*ms, 21)...), 2, true, "n=1000, 21 sample(s)"},
		{"22 slow of 1000", append(repeat(2*ms, 978), repeat(41*ms, 22)...), 41, false, "n=1000, 21 sample(s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fault := phaseOf("fault:x", tc.pings, nil, 0)
			hb := &HeartbeatSnapshot{Interval: 5 * time.Millisecond, Phases: []PhaseSnapshot{base, fault}, SendLag: NewHistogram()}
			cs := th.Evaluate(Measurements{Heartbeat: hb})
			c, ok := findCheck(cs, "heartbeat.ping.p99_vs_baseline", "fault:x")
			if !ok {
				t.Fatal("no relative p99 check")
			}
			if !near(c.Value, tc.wantP99) || c.Pass != tc.wantPass || !strings.Contains(c.Detail, tc.wantDelta) {
				t.Errorf("check %+v; want value %.0f pass=%v detail ~%q", c, tc.wantP99, tc.wantPass, tc.wantDelta)
			}
			if m, ok := findCheck(cs, "heartbeat.ping.max", "fault:x"); !ok || !near(m.Value, 41) {
				t.Errorf("max check %+v; want the slow ping judged", m)
			}
		})
	}
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 0.01*max(1, b) // hdr histograms keep 3 significant digits
}

func TestThresholds_yaml(t *testing.T) {
	th := DefaultThresholds()
	in := "ping_p99_max: 80ms\nping_stall_max: 2s\nleaked_goroutines_max: 2\nnoop_p99_factor: 3\n"
	if err := yaml.UnmarshalWithOptions([]byte(in), &th, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		t.Fatal(err)
	}
	if th.PingP99Max != 80*time.Millisecond || th.PingStallMax != 2*time.Second || th.LeakedGoroutinesMax != 2 || th.NoopP99Factor != 3 {
		t.Errorf("decoded = %+v", th)
	}
	if th.PingP999Max != 250*time.Millisecond || th.MinSamples != 1000 {
		t.Errorf("defaults lost: %+v", th)
	}
	if err := yaml.UnmarshalWithOptions([]byte("ping_p99: 1ms\n"), &th, yaml.Strict(), yaml.DisallowUnknownField()); err == nil {
		t.Error("unknown key accepted")
	}
	out, err := yaml.Marshal(DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "ping_p999_max: 250ms") {
		t.Errorf("marshalled defaults:\n%s", out)
	}
}

func TestThresholds_Validity(t *testing.T) {
	th := DefaultThresholds()
	mk := func(samples int, lag time.Duration, dropped int64) *HeartbeatSnapshot {
		p := phaseOf("baseline", repeat(time.Millisecond, samples), nil, 0)
		p.Ping.Dropped = dropped
		hb := &HeartbeatSnapshot{Interval: 20 * time.Millisecond, Phases: []PhaseSnapshot{p}, SendLag: NewHistogram(),
			Ping: p.Ping, Noop: KindStats{Hist: NewHistogram()}}
		for range samples {
			recordClamped(hb.SendLag, lag)
		}
		return hb
	}
	f := func(hb *HeartbeatSnapshot, sched *SchedWindow, want string) {
		t.Helper()
		got := th.Validity(hb, sched, nil)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("Validity = %q; want %q", got, want)
		}
	}
	f(mk(1500, 100*time.Microsecond, 0), &SchedWindow{P99: time.Millisecond}, "")
	f(mk(1500, 5*time.Millisecond, 0), nil, "send lag p99 5.00ms > 2.00ms")
	f(mk(1500, 0, 3), nil, "3 probe ticks dropped")
	f(mk(999, 0, 0), nil, "999 ping samples < 1000")
	f(mk(1500, 0, 0), &SchedWindow{P99: 40 * time.Millisecond}, "baseline scheduling latency p99 40.00ms > 25.00ms")
}

// fakeRuntime serves a scripted sequence of reads.
type fakeRuntime struct {
	mu    sync.Mutex
	reads []RuntimeStats
	i     int
	err   error
}

func (f *fakeRuntime) Runtime(context.Context) (RuntimeStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return RuntimeStats{}, f.err
	}
	r := f.reads[min(f.i, len(f.reads)-1)]
	f.i++
	r.At = time.Now()
	return r, nil
}

func rt(g, fds int64, sched ...HistBucket) RuntimeStats {
	return RuntimeStats{Goroutines: g, OpenFDs: fds, RSSBytes: 10 << 20, SchedLatency: Hist{Buckets: sched}}
}

func TestWaitSettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := rt(20, 10)
		// settles on the 4th read (after 300 ms of polling)
		src := &fakeRuntime{reads: []RuntimeStats{rt(30, 12), rt(25, 11), rt(21, 10), rt(20, 10)}}
		res, err := WaitSettled(t.Context(), src, base, LeakOptions{})
		if err != nil || !res.Settled || res.LeakedGoroutines != 0 || res.Waited != 300*time.Millisecond {
			t.Errorf("settled = %+v, %v", res, err)
		}
		// never settles: leaked counts from the last read after the timeout
		src = &fakeRuntime{reads: []RuntimeStats{rt(30, 12), rt(23, 11)}}
		res, err = WaitSettled(t.Context(), src, base, LeakOptions{Timeout: time.Second, FDTolerance: 1})
		if err != nil || res.Settled || res.LeakedGoroutines != 3 || res.LeakedFDs != 0 || res.Waited != time.Second {
			t.Errorf("leaked = %+v, %v", res, err)
		}
		// tolerance
		src = &fakeRuntime{reads: []RuntimeStats{rt(22, 10)}}
		res, _ = WaitSettled(t.Context(), src, base, LeakOptions{GoroutineTolerance: 2})
		if !res.Settled || res.Waited != 0 {
			t.Errorf("tolerance = %+v", res)
		}
		// no read at all
		src = &fakeRuntime{err: errors.New("connection refused")}
		if _, err := WaitSettled(t.Context(), src, base, LeakOptions{Timeout: 200 * time.Millisecond}); err == nil {
			t.Error("want the read error")
		}
	})
}

func TestSampler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeRuntime{reads: []RuntimeStats{
			rt(10, 5, HistBucket{Le: 0.0001, Count: 100}),
			rt(12, 6, HistBucket{Le: 0.0001, Count: 200}, HistBucket{Le: 0.01, Count: 1}),
			rt(14, 7, HistBucket{Le: 0.0001, Count: 300}, HistBucket{Le: 0.01, Count: 1}, HistBucket{Le: 0.05, Count: 5}),
		}}
		start := time.Now()
		s := NewSampler(src, 250*time.Millisecond, start)
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond) // reads at 0, 250, 500 ms
		if !s.Stop() || s.Stop() {
			t.Error("Stop must report true once")
		}
		ser := s.Series()
		if len(ser.Goroutines) != 3 || ser.Goroutines[2].TMS != 500 || ser.Goroutines[2].Value != 14 || ser.RSSMB[0].Value != 10 {
			t.Errorf("series = %+v", ser)
		}
		if len(ser.SchedP99MS) != 2 || ser.SchedP99MS[0].Value != 0.1 || ser.SchedP99MS[1].Value != 50 {
			t.Errorf("sched series = %+v", ser.SchedP99MS)
		}
		w, ok := s.Between(start, start.Add(250*time.Millisecond))
		if !ok || w.Count != 101 || w.P99 != 100*time.Microsecond || w.Max != 10*time.Millisecond { // rank ceil(101×0.99)=100 is in the 0.1 ms bucket
			t.Errorf("window = %+v, %v", w, ok)
		}
		if n, _ := s.Errors(); n != 0 {
			t.Errorf("errors = %d", n)
		}
	})
}

func TestParseRuntime(t *testing.T) {
	a := `{"goroutines": 42, "open_fds": 9, "rss_bytes": 1048576,
	  "sched_latencies_seconds": {"count": 3, "p99": 0.001, "buckets": [{"le": 0.001, "count": 1}, {"le": 0.000001, "count": 2}]}}`
	ra, err := ParseRuntime([]byte(a), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ra.Goroutines != 42 || ra.OpenFDs != 9 || ra.RSSBytes != 1<<20 || ra.SchedLatency.Quantile(0.99) != time.Millisecond {
		t.Errorf("runtime = %+v", ra)
	}
	for _, bad := range []string{"not json", `{"goroutines": "42"}`} {
		if _, err := ParseRuntime([]byte(bad), time.Time{}); err == nil {
			t.Errorf("ParseRuntime(%s): want an error", bad)
		}
	}
	d := ra.SchedLatency.Sub(Hist{Buckets: []HistBucket{{Le: 0.000001, Count: 2}, {Le: 0.001, Count: 5}}})
	if d.Total() != 0 {
		t.Errorf("a shrinking bucket must count 0: %+v", d)
	}
}

func TestParseVars_logCounters(t *testing.T) {
	in := `{"logship": {"mode": "async", "victorialogs": {"emitted": 5, "delivered": 3, "dropped": {"queue_full": 1}, "dropped_total": 1, "pending": 1},
	  "stderr": {"emitted": 2, "delivered": 2, "dropped": {}, "dropped_total": 0}}, "calls": {"started": 3}}`
	v, err := ParseVars([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if v.Logship.VictoriaLogs == nil || v.Logship.Stderr == nil || v.Calls.Started != 3 {
		t.Fatalf("vars = %+v", v)
	}
	ship, se := LogCountersOf(v.Logship.VictoriaLogs.SinkStats), LogCountersOf(*v.Logship.Stderr)
	if ship.Emitted != 5 || ship.DroppedTotal() != 1 || ship.Pending != 1 || se.Emitted != 2 {
		t.Errorf("counters = %+v, %+v", ship, se)
	}
	if la := AccountLogs(ship, &se, 3); la.Unaccounted != 0 {
		t.Errorf("account = %+v", la)
	}
	la := AccountLogs(LogCounters{Emitted: 10, Delivered: 5}, &LogCounters{Emitted: 4, Delivered: 6}, 5)
	if la.Unaccounted != 7 { // |10−5| + |4−6|: errors in opposite directions do not cancel
		t.Errorf("unaccounted = %d; want 7", la.Unaccounted)
	}
	if _, err := ParseVars([]byte(`{"logship": []}`)); err == nil {
		t.Error("a wrong shape decoded")
	}
}

// A late prober says whose fault it was: the machine (already late at
// calibration), the run (the clock itself woke late), or the harness
// process (the clock was on time, the probes were not).
func TestThresholds_ValidityNamesWhoWasLate(t *testing.T) {
	th := DefaultThresholds()
	mk := func(lag, woke time.Duration) *HeartbeatSnapshot {
		p := phaseOf("baseline", repeat(time.Millisecond, 1500), nil, 0)
		hb := &HeartbeatSnapshot{Interval: 5 * time.Millisecond, Phases: []PhaseSnapshot{p}, Ping: p.Ping,
			Noop: KindStats{Hist: NewHistogram()}, SendLag: NewHistogram(), WakeLag: NewHistogram(), Clock: "clock_nanosleep"}
		for range 1500 {
			recordClamped(hb.SendLag, lag)
			recordClamped(hb.WakeLag, woke)
		}
		return hb
	}
	quiet := &wake.Calibration{Kernel: wake.Lateness{Clock: "clock_nanosleep", P99: 80 * time.Microsecond}, Handoff: wake.Lateness{P99: 200 * time.Microsecond}}
	noisy := &wake.Calibration{Kernel: wake.Lateness{Clock: "clock_nanosleep", P99: 600 * time.Microsecond}, Handoff: wake.Lateness{P99: 2 * time.Millisecond}}
	// A hand-off spike at calibration alone does not blame the machine.
	busyStart := &wake.Calibration{Kernel: wake.Lateness{Clock: "clock_nanosleep", P99: 200 * time.Microsecond}, Handoff: wake.Lateness{P99: 1100 * time.Microsecond}}
	f := func(hb *HeartbeatSnapshot, cal *wake.Calibration, want string) {
		t.Helper()
		got := th.Validity(hb, nil, cal)
		if !strings.Contains(got, want) {
			t.Errorf("Validity = %q; want it to contain %q", got, want)
		}
	}
	f(mk(3*time.Millisecond, 2*time.Millisecond), noisy, "the machine itself is too noisy")
	f(mk(3*time.Millisecond, 2*time.Millisecond), quiet, "clock itself woke p99 2.00ms late during this scenario, against p99 0.08ms at calibration")
	f(mk(3*time.Millisecond, 100*time.Microsecond), quiet, "woke on time (p99 0.10ms) but its probes started late")
	f(mk(3*time.Millisecond, 100*time.Microsecond), nil, "but its probes started late")
	f(mk(3*time.Millisecond, 2*time.Millisecond), busyStart, "the machine got busier")
	if got := th.Validity(mk(500*time.Microsecond, 100*time.Microsecond), nil, noisy); got != "" {
		t.Errorf("a prober within its bound is valid whatever the calibration; got %q", got)
	}
}

func TestAllowedAbove(t *testing.T) {
	f := func(n, want int64) {
		t.Helper()
		if got := allowedAbove(n, 0.01, 0.001); got != want {
			t.Errorf("allowedAbove(%d) = %d; want %d", n, got, want)
		}
	}
	f(0, 0)
	f(1, 0) // one sample: it is the p99
	f(41, 3)
	f(250, 9)
	f(1000, 21)
	f(20000, 244) // normal approximation: 200 + 3.09·√198
}

// TestSnapshot_Without: a phase left out counts in no merged figure, so
// neither the thresholds nor the validity see a capacity trial driven
// past the limit on purpose.
func TestSnapshot_Without(t *testing.T) {
	base := phaseOf("baseline", repeat(time.Millisecond, 1000), nil, 0)
	over := phaseOf("load-at-400", repeat(900*time.Millisecond, 1000), nil, 0)
	base.SendLag, base.WakeLag = NewHistogram(), NewHistogram()
	over.SendLag, over.WakeLag = NewHistogram(), NewHistogram()
	for range 1000 {
		recordClamped(base.SendLag, 100*time.Microsecond)
		recordClamped(over.SendLag, 30*time.Millisecond)
	}
	snap := &HeartbeatSnapshot{Interval: 5 * time.Millisecond, Phases: []PhaseSnapshot{base, over},
		Ping: KindStats{Hist: NewHistogram()}, Noop: KindStats{Hist: NewHistogram()}, SendLag: NewHistogram(), WakeLag: NewHistogram()}
	for _, p := range snap.Phases {
		mergeKind(&snap.Ping, p.Ping)
		snap.SendLag.Merge(p.SendLag)
	}
	th := DefaultThresholds()
	if th.Validity(snap, nil, nil) == "" {
		t.Fatal("the whole snapshot, with 30 ms of send lag in half its probes, judged valid")
	}
	judged := snap.Without(map[string]string{"load-at-400": "beyond the limit"})
	if got := judged.Ping.Count(); got != 1000 {
		t.Errorf("%d pings after leaving the trial out, want the baseline's 1000", got)
	}
	if why := th.Validity(judged, nil, nil); why != "" {
		t.Errorf("validity without the trial: %q, want valid", why)
	}
	for _, c := range th.Evaluate(Measurements{Heartbeat: judged}) {
		if c.Phase == "load-at-400" {
			t.Errorf("check %s judges the phase left out", c.Name)
		}
	}
	if snap.Ping.Count() != 2000 || len(snap.Phases) != 2 {
		t.Errorf("Without changed the snapshot it was called on")
	}
}
