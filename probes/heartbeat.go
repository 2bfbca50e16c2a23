package probes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
	"github.com/secondbrain-dev/secondbrain/reports"
)

// Target is what the heartbeat probes. The runner implements it over its MCP
// client: over stdio, interleaved on the same pipe as the scenario's own
// calls; over HTTP, on a connection of its own. Both methods must return
// when ctx ends (the per-probe timeout and [Heartbeat.Stop] rely on it) and
// must be safe for concurrent use: probes overlap whenever the server is slow.
type Target interface {
	// Ping sends an MCP ping and waits for its answer.
	Ping(ctx context.Context) error
	// Noop calls a cheap tool (same session as the scenario's work) and
	// waits for its result.
	Noop(ctx context.Context) error
}

// Kind names what a probe sends.
type Kind string

// Probe kinds.
const (
	KindPing Kind = "ping"
	KindNoop Kind = "noop"
)

// Defaults of [HeartbeatOptions].
const (
	DefaultInterval        = 20 * time.Millisecond
	DefaultProbeTimeout    = 5 * time.Second
	DefaultSeriesBucket    = 250 * time.Millisecond
	DefaultBreachThreshold = 250 * time.Millisecond
	DefaultBreachMinGap    = time.Second
	DefaultPhase           = "baseline"
)

// NewHistogram returns an empty latency histogram with the one geometry of
// the project's histograms ([reports.NewHistogram]: nanoseconds, as the
// .hlog format assumes, 1 µs to 1 h, 3 significant digits), so they can all
// be merged.
func NewHistogram() *hdrhistogram.Histogram { return reports.NewHistogram() }

// recordClamped records d, clamped into the histograms' range: a longer
// latency is still counted, at the maximum.
func recordClamped(h *hdrhistogram.Histogram, d time.Duration) {
	v := int64(d)
	if v < reports.HistogramLowestNS {
		v = reports.HistogramLowestNS
	}
	if v > reports.HistogramHighestNS {
		v = reports.HistogramHighestNS
	}
	_ = h.RecordValue(v) // cannot fail: v is in range
}

// HeartbeatOptions configure a [Heartbeat]. The zero value means the
// defaults: both kinds every 20 ms, 5 s per-probe timeout.
type HeartbeatOptions struct {
	// Interval between pings. 0 means [DefaultInterval]; < 0 disables pings.
	Interval time.Duration
	// NoopInterval between no-op tool calls. 0 means Interval; < 0
	// disables them.
	NoopInterval time.Duration
	// Timeout bounds each probe, counted from its intended send time.
	// 0 means [DefaultProbeTimeout].
	Timeout time.Duration
	// MaxOutstanding bounds the probes of one kind in flight at once. A
	// tick that finds the bound reached is counted as dropped (and makes
	// the run invalid). 0 means enough for Timeout/interval probes plus
	// headroom, so ticks are only dropped when the Target ignores ctx.
	MaxOutstanding int
	// Origin is t=0 of the time series and phase times (the scenario's
	// start). Zero means the moment Start is called.
	Origin time.Time
	// SeriesBucket is the width of one point of the downsampled series
	// (the max latency of the probes intended in that bucket).
	// 0 means [DefaultSeriesBucket].
	SeriesBucket time.Duration
	// InitialPhase names the phase before the first SetPhase.
	// "" means [DefaultPhase].
	InitialPhase string
	// BreachThreshold: a probe still unanswered this long after its
	// intended send time is a breach. 0 means [DefaultBreachThreshold];
	// < 0 disables breach detection.
	BreachThreshold time.Duration
	// BreachMinGap is the least time between two OnBreach calls.
	// 0 means [DefaultBreachMinGap].
	BreachMinGap time.Duration
	// Clock keeps the probes' schedule. nil means [wake.New]: a thread of
	// its own sleeping with clock_nanosleep on Linux, Go's timers
	// elsewhere.
	Clock wake.Clock
	// Sender, when set, sends probes from the clock's own thread without
	// waiting (see [Sender]); a probe it cannot send at once goes the
	// ordinary way, through Target on a goroutine. nil: every probe goes
	// through Target.
	Sender Sender
	// OnBreach is called on the heartbeat's own breach goroutine, at most
	// once per arming (Start, SetPhase and ArmBreach arm it) and never more
	// often than BreachMinGap, so the runner can fetch a goroutine profile
	// and the flight-recorder trace while the server is still stuck. It
	// may block (it delays only later breach calls, never the probes); ctx
	// ends when the heartbeat stops.
	OnBreach func(ctx context.Context, b Breach)
}

// Breach describes the probe that crossed the breach threshold.
type Breach struct {
	Kind      Kind
	Phase     string
	Intended  time.Time     // when the probe should have been sent
	Elapsed   time.Duration // how long it had been outstanding when seen
	Threshold time.Duration
}

// Heartbeat is an open-loop prober. Probes are sent on a fixed schedule
// (start + k·interval), each measured from its intended send time, so a
// stalled server is charged for every probe it delays — coordinated
// omission corrected as wrk2 does. If earlier probes are still outstanding
// the next ones are sent anyway, each from its own goroutine, up to
// MaxOutstanding.
//
// Create it with [NewHeartbeat]; nothing runs until Start. Methods are safe
// for concurrent use.
type Heartbeat struct {
	target Target
	opts   HeartbeatOptions

	phase atomic.Pointer[string]

	mu       sync.Mutex // guards the fields below; never held during I/O
	started  bool
	stopped  bool
	origin   time.Time
	phases   []*phaseStats // in order of first use
	byName   map[string]*phaseStats
	lag      *hdrhistogram.Histogram          // probe start − intended send time
	wakeLag  *hdrhistogram.Histogram          // clock wake-up − intended send time
	series   map[Kind]map[int64]time.Duration // bucket index → max latency
	cancel   context.CancelFunc
	armed    bool
	lastCall time.Time // last OnBreach call

	wg sync.WaitGroup // every goroutine Start launched
	// sentPings and sentNoops count probes sent by sendNow and not yet
	// ended; sentWG waits for them to end (answer, timeout or Stop).
	sentPings, sentNoops atomic.Int64
	sentWG               sync.WaitGroup
	breachCh             chan Breach
}

type phaseStats struct {
	name         string
	start, end   time.Time
	kinds        map[Kind]*kindStats
	lag, wakeLag *hdrhistogram.Histogram // of the probes sent in this phase
}

type kindStats struct {
	hist     *hdrhistogram.Histogram
	errors   int64
	timeouts int64
	dropped  int64
}

// NewHeartbeat returns a heartbeat probing t. It starts nothing.
func NewHeartbeat(t Target, opts HeartbeatOptions) *Heartbeat {
	opts.Interval, opts.NoopInterval = opts.intervals()
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultProbeTimeout
	}
	if opts.SeriesBucket <= 0 {
		opts.SeriesBucket = DefaultSeriesBucket
	}
	if opts.InitialPhase == "" {
		opts.InitialPhase = DefaultPhase
	}
	if opts.BreachThreshold == 0 {
		opts.BreachThreshold = DefaultBreachThreshold
	}
	if opts.BreachMinGap <= 0 {
		opts.BreachMinGap = DefaultBreachMinGap
	}
	if opts.Clock == nil {
		opts.Clock = wake.New()
	}
	h := &Heartbeat{
		target:   t,
		opts:     opts,
		byName:   make(map[string]*phaseStats),
		lag:      NewHistogram(),
		wakeLag:  NewHistogram(),
		series:   map[Kind]map[int64]time.Duration{KindPing: {}, KindNoop: {}},
		breachCh: make(chan Breach, 1),
	}
	name := opts.InitialPhase
	h.phase.Store(&name)
	return h
}

func (h *Heartbeat) maxOutstanding(interval time.Duration) int {
	if h.opts.MaxOutstanding > 0 {
		return h.opts.MaxOutstanding
	}
	// Every probe ends by its timeout, so at most Timeout/interval are in
	// flight when the Target honours ctx; double it for scheduling slack.
	return int(2*h.opts.Timeout/interval) + 16
}

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("probes: heartbeat already started")

// Start launches the schedule goroutines (one per enabled kind) and the
// breach goroutine. They run until ctx ends or Stop is called.
func (h *Heartbeat) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.started {
		h.mu.Unlock()
		return ErrStarted
	}
	h.started = true
	now := time.Now()
	h.origin = h.opts.Origin
	if h.origin.IsZero() {
		h.origin = now
	}
	h.armed = true
	h.enterPhaseLocked(*h.phase.Load(), now)
	ctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	h.mu.Unlock()

	if h.opts.Interval > 0 {
		h.wg.Add(1)
		go h.schedule(ctx, KindPing, h.opts.Interval, now)
	}
	if h.opts.NoopInterval > 0 {
		h.wg.Add(1)
		go h.schedule(ctx, KindNoop, h.opts.NoopInterval, now.Add(noopOffset(h.opts.Interval)))
	}
	if h.opts.OnBreach != nil && h.opts.BreachThreshold > 0 {
		h.wg.Add(1)
		go h.breachLoop(ctx)
	}
	return nil
}

// Stop ends every goroutine of the heartbeat and waits for them, including
// probes in flight (their ctx is cancelled; those are not counted). It
// reports whether this call did the stopping.
func (h *Heartbeat) Stop() bool {
	h.mu.Lock()
	if !h.started || h.stopped {
		h.mu.Unlock()
		return false
	}
	h.stopped = true
	cancel := h.cancel
	h.mu.Unlock()
	cancel()
	h.wg.Wait()
	h.sentWG.Wait()
	h.mu.Lock()
	if p := h.byName[*h.phase.Load()]; p != nil {
		p.end = time.Now()
	}
	h.mu.Unlock()
	return true
}

// SetPhase starts a new phase: probes intended from now on are recorded in
// its histograms. Naming a phase seen before adds to it. It also re-arms
// the breach trigger.
func (h *Heartbeat) SetPhase(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if old := h.byName[*h.phase.Load()]; old != nil {
		old.end = now
	}
	h.phase.Store(&name)
	h.armed = true
	if h.started {
		h.enterPhaseLocked(name, now)
	}
}

// Phase returns the current phase name.
func (h *Heartbeat) Phase() string { return *h.phase.Load() }

// ArmBreach re-arms the breach trigger (the runner calls it per step).
func (h *Heartbeat) ArmBreach() {
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
}

func (h *Heartbeat) enterPhaseLocked(name string, now time.Time) *phaseStats {
	p := h.byName[name]
	if p == nil {
		p = &phaseStats{name: name, start: now, kinds: map[Kind]*kindStats{
			KindPing: {hist: NewHistogram()},
			KindNoop: {hist: NewHistogram()},
		}, lag: NewHistogram(), wakeLag: NewHistogram()}
		h.byName[name] = p
		h.phases = append(h.phases, p)
	}
	p.end = time.Time{}
	return p
}

// noopOffset shifts the no-op schedule half a ping interval after the
// ping's, so the two clocks never wake together: with every 4th ping tick
// on a no-op tick, the no-op's send lag p99 was 0.43–0.57 ms against the
// ping's 0.24–0.32 (2-vCPU VM, one context query).
// intervals are the ping and no-op intervals with their defaults: 0 means
// DefaultInterval for pings and the ping interval for no-ops.
func (o HeartbeatOptions) intervals() (ping, noop time.Duration) {
	ping, noop = o.Interval, o.NoopInterval
	if ping == 0 {
		ping = DefaultInterval
	}
	if noop == 0 {
		noop = ping
	}
	return ping, noop
}

// WakeSpacing is how often the heartbeat's clocks wake up together: the
// shortest gap between two probes of its schedules. A clock's lateness
// grows with how long it slept (on a 2-vCPU VM, p99 0.08–0.10 ms on a
// 2 ms schedule and 0.12–0.16 ms on a 10 ms one), so the calibration that
// the prober is compared with runs on this spacing.
func (o HeartbeatOptions) WakeSpacing() time.Duration {
	ping, noop := o.intervals()
	switch {
	case ping < 0 && noop < 0:
		return 0
	case ping < 0:
		return noop
	case noop < 0:
		return ping
	case noop == ping:
		return noopOffset(ping)
	}
	return min(ping, noop, noopOffset(ping))
}

func noopOffset(pingInterval time.Duration) time.Duration {
	return max(pingInterval, 0) / 2
}

// schedule sends probes of one kind at start + k·interval. The clock runs
// on this goroutine and hands each tick to a launcher goroutine, which
// starts the probe; the clock never waits for either. It never skips an
// intended time: after a late wake-up every overdue probe is sent at once,
// each measured from its own intended time.
func (h *Heartbeat) schedule(ctx context.Context, kind Kind, interval time.Duration, start time.Time) {
	defer h.wg.Done()
	bound := h.maxOutstanding(interval)
	ticks := wake.NewHandoff(bound)
	var launcher sync.WaitGroup
	launcher.Add(1)
	go func() {
		defer launcher.Done()
		h.launch(ctx, kind, ticks, bound)
	}()
	// The clock's thread takes no lock the probes take: a probe holding
	// it while descheduled would make the clock late. Its lateness goes
	// into histograms of its own, one per phase, merged when the schedule
	// ends.
	wakeLags := map[string]*hdrhistogram.Histogram{}
	send := h.opts.Sender != nil
	_ = h.opts.Clock.Run(ctx, wake.Every(start, interval), func(intended, woke time.Time) {
		phase := *h.phase.Load()
		if !send || !h.sendNow(ctx, kind, interval, phase, intended) {
			ticks.Fire(intended)
		}
		wl := wakeLags[phase]
		if wl == nil {
			wl = NewHistogram()
			wakeLags[phase] = wl
		}
		recordClamped(wl, woke.Sub(intended))
	})
	ticks.Close()
	launcher.Wait()
	h.mu.Lock()
	for phase, wl := range wakeLags {
		h.wakeLag.Merge(wl)
		p := h.byName[phase]
		if p == nil {
			p = h.enterPhaseLocked(phase, start)
		}
		p.wakeLag.Merge(wl)
	}
	h.mu.Unlock()
	if n := ticks.Dropped(); n > 0 {
		h.recordDrops(kind, *h.phase.Load(), n)
	}
}

// launch starts one probe per tick, at most bound in flight; a tick that
// finds the bound reached is counted as dropped.
func (h *Heartbeat) launch(ctx context.Context, kind Kind, ticks *wake.Handoff, bound int) {
	slots := make(chan struct{}, bound)
	var probes sync.WaitGroup
	defer probes.Wait()
	for t := range ticks.C() {
		if ctx.Err() != nil {
			continue // stopping: drain what the clock already fired
		}
		phase := *h.phase.Load()
		select {
		case slots <- struct{}{}:
			probes.Add(1)
			go func() {
				defer probes.Done()
				defer func() { <-slots }()
				h.probe(ctx, kind, phase, t.Intended)
			}()
		default:
			h.recordDrop(kind, phase)
		}
	}
}

func (h *Heartbeat) probe(ctx context.Context, kind Kind, phase string, intended time.Time) {
	sent := time.Now()
	pctx, cancel := context.WithDeadline(ctx, intended.Add(h.opts.Timeout))
	defer cancel()
	var watch *time.Timer
	if h.opts.OnBreach != nil && h.opts.BreachThreshold > 0 {
		watch = time.AfterFunc(time.Until(intended.Add(h.opts.BreachThreshold)), func() {
			h.signalBreach(Breach{Kind: kind, Phase: phase, Intended: intended,
				Elapsed: time.Since(intended), Threshold: h.opts.BreachThreshold})
		})
	}
	var err error
	if kind == KindPing {
		err = h.target.Ping(pctx)
	} else {
		err = h.target.Noop(pctx)
	}
	done := time.Now()
	if watch != nil {
		watch.Stop()
	}
	if ctx.Err() != nil {
		return // stopping: the probe was cut short by us, not by the server
	}
	timedOut := err != nil && (errors.Is(err, context.DeadlineExceeded) || pctx.Err() != nil)
	h.record(kind, phase, intended, sent.Sub(intended), done.Sub(intended), err, timedOut)
}

func (h *Heartbeat) record(kind Kind, phase string, intended time.Time, lag, lat time.Duration, err error, timedOut bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	recordClamped(h.lag, lag)
	p := h.byName[phase]
	if p == nil {
		p = h.enterPhaseLocked(phase, intended)
	}
	recordClamped(p.lag, lag)
	ks := p.kinds[kind]
	switch {
	case timedOut:
		// A timeout is the longest kind of stall: keep it in the
		// histogram so max and p99.9 see it.
		ks.timeouts++
		recordClamped(ks.hist, lat)
	case err != nil:
		ks.errors++
		return
	default:
		recordClamped(ks.hist, lat)
	}
	b := int64(intended.Sub(h.origin) / h.opts.SeriesBucket)
	if lat > h.series[kind][b] {
		h.series[kind][b] = lat
	}
}

func (h *Heartbeat) recordDrop(kind Kind, phase string) { h.recordDrops(kind, phase, 1) }

func (h *Heartbeat) recordDrops(kind Kind, phase string, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.byName[phase]
	if p == nil {
		p = h.enterPhaseLocked(phase, time.Now())
	}
	p.kinds[kind].dropped += n
}

func (h *Heartbeat) signalBreach(b Breach) {
	select {
	case h.breachCh <- b:
	default: // one already pending: the breach loop coalesces them
	}
}

func (h *Heartbeat) breachLoop(ctx context.Context) {
	defer h.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-h.breachCh:
			h.mu.Lock()
			now := time.Now()
			fire := h.armed && (h.lastCall.IsZero() || now.Sub(h.lastCall) >= h.opts.BreachMinGap)
			if fire {
				h.armed = false
				h.lastCall = now
			}
			h.mu.Unlock()
			if fire {
				h.opts.OnBreach(ctx, b)
			}
		}
	}
}

// KindStats are one probe kind's numbers in one phase (or merged).
type KindStats struct {
	// Hist holds latencies (ns from intended send to answer) of answered
	// and timed-out probes; errors are not in it.
	Hist     *hdrhistogram.Histogram
	Errors   int64
	Timeouts int64
	Dropped  int64
}

// Count is the number of samples behind the percentiles.
func (k KindStats) Count() int64 { return k.Hist.TotalCount() }

// Quantile returns the latency at q (0–100).
func (k KindStats) Quantile(q float64) time.Duration {
	return time.Duration(k.Hist.ValueAtQuantile(q))
}

// Max returns the largest latency.
func (k KindStats) Max() time.Duration { return time.Duration(k.Hist.Max()) }

// PhaseSnapshot is one phase's numbers.
type PhaseSnapshot struct {
	Name       string
	Start, End time.Time // End is zero while the phase is current
	Ping, Noop KindStats
	// SendLag and WakeLag are of the probes sent in this phase (WakeLag
	// only once the heartbeat stopped).
	SendLag, WakeLag *hdrhistogram.Histogram
}

// HeartbeatSnapshot is a consistent copy of a heartbeat's numbers.
type HeartbeatSnapshot struct {
	Interval, NoopInterval time.Duration
	Origin                 time.Time
	Phases                 []PhaseSnapshot
	Ping, Noop             KindStats               // all phases merged
	SendLag                *hdrhistogram.Histogram // actual − intended send time
	// Clock names the clock that kept the schedule; WakeLag is its own
	// lateness (wake-up − intended), the part of SendLag that was not
	// the hand-off to the probe's goroutine.
	Clock        string
	WakeLag      *hdrhistogram.Histogram
	Series       map[Kind][]Sample // max latency per bucket, ms
	SeriesBucket time.Duration     // width of one bucket
}

// Sample is one point of a series: t since Origin and a value (ms unless
// the producer says otherwise).
type Sample struct {
	T     time.Duration
	Value float64
}

// Snapshot copies the heartbeat's numbers; it may be called while running.
func (h *Heartbeat) Snapshot() *HeartbeatSnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &HeartbeatSnapshot{
		Interval:     h.opts.Interval,
		NoopInterval: h.opts.NoopInterval,
		Origin:       h.origin,
		Ping:         KindStats{Hist: NewHistogram()},
		Noop:         KindStats{Hist: NewHistogram()},
		SendLag:      h.lag.Clone(),
		Clock:        h.opts.Clock.Name(),
		WakeLag:      h.wakeLag.Clone(),
		Series:       map[Kind][]Sample{},
		SeriesBucket: h.opts.SeriesBucket,
	}
	for _, p := range h.phases {
		ps := PhaseSnapshot{Name: p.name, Start: p.start, End: p.end,
			Ping: cloneKind(p.kinds[KindPing]), Noop: cloneKind(p.kinds[KindNoop]),
			SendLag: p.lag.Clone(), WakeLag: p.wakeLag.Clone()}
		mergeKind(&s.Ping, ps.Ping)
		mergeKind(&s.Noop, ps.Noop)
		s.Phases = append(s.Phases, ps)
	}
	for kind, m := range h.series {
		pts := make([]Sample, 0, len(m))
		for b, v := range m {
			pts = append(pts, Sample{T: time.Duration(b) * h.opts.SeriesBucket, Value: reports.Millis(v)})
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].T < pts[j].T })
		s.Series[kind] = pts
	}
	return s
}

func cloneKind(k *kindStats) KindStats {
	return KindStats{Hist: k.hist.Clone(), Errors: k.errors, Timeouts: k.timeouts, Dropped: k.dropped}
}

func mergeKind(dst *KindStats, src KindStats) {
	dst.Hist.Merge(src.Hist)
	dst.Errors += src.Errors
	dst.Timeouts += src.Timeouts
	dst.Dropped += src.Dropped
}

// Phase returns the named phase's numbers, or false.
func (s *HeartbeatSnapshot) Phase(name string) (PhaseSnapshot, bool) {
	for _, p := range s.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return PhaseSnapshot{}, false
}

// Without is the snapshot with the named phases left out: their probes
// count in no merged figure (latencies, send and wake lag, drops). The
// series are kept whole. s is unchanged.
func (s *HeartbeatSnapshot) Without(skip map[string]string) *HeartbeatSnapshot {
	if len(skip) == 0 {
		return s
	}
	out := *s
	out.Phases = nil
	out.Ping, out.Noop = KindStats{Hist: NewHistogram()}, KindStats{Hist: NewHistogram()}
	out.SendLag, out.WakeLag = NewHistogram(), NewHistogram()
	for _, p := range s.Phases {
		if _, ok := skip[p.Name]; ok {
			continue
		}
		out.Phases = append(out.Phases, p)
		mergeKind(&out.Ping, p.Ping)
		mergeKind(&out.Noop, p.Noop)
		if p.SendLag != nil {
			out.SendLag.Merge(p.SendLag)
		}
		if p.WakeLag != nil {
			out.WakeLag.Merge(p.WakeLag)
		}
	}
	return &out
}

// Dropped is the number of ticks dropped over all phases and kinds.
func (s *HeartbeatSnapshot) Dropped() int64 { return s.Ping.Dropped + s.Noop.Dropped }

func (s *HeartbeatSnapshot) String() string {
	return fmt.Sprintf("ping n=%d p99=%v max=%v; noop n=%d p99=%v; lag p99=%v; dropped=%d",
		s.Ping.Count(), s.Ping.Quantile(99), s.Ping.Max(), s.Noop.Count(), s.Noop.Quantile(99),
		time.Duration(s.SendLag.ValueAtQuantile(99)), s.Dropped())
}
