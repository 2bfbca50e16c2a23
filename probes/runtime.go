package probes

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// RuntimeSource reads the server's runtime numbers; [DebugClient]
// implements it.
type RuntimeSource interface {
	Runtime(ctx context.Context) (RuntimeStats, error)
}

// DefaultSampleInterval is how often a [Sampler] reads /debug/runtime.
const DefaultSampleInterval = 200 * time.Millisecond

// Sampler polls a RuntimeSource on its own goroutine and keeps every read:
// goroutines, open fds and RSS over time, and the cumulative scheduling
// latency histogram for windows. Create it with [NewSampler]; Start and
// Stop own the goroutine.
type Sampler struct {
	src      RuntimeSource
	interval time.Duration
	origin   time.Time

	mu      sync.Mutex
	reads   []RuntimeStats
	errs    int
	lastErr error
	started bool
	stopped bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewSampler returns a sampler of src every interval (0 means
// [DefaultSampleInterval]); series times are relative to origin (zero:
// the moment Start is called).
func NewSampler(src RuntimeSource, interval time.Duration, origin time.Time) *Sampler {
	if interval <= 0 {
		interval = DefaultSampleInterval
	}
	return &Sampler{src: src, interval: interval, origin: origin}
}

// Start launches the polling goroutine; the first read happens at once.
func (s *Sampler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("probes: sampler already started")
	}
	s.started = true
	if s.origin.IsZero() {
		s.origin = time.Now()
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.wg.Add(1)
	go s.loop(ctx)
	return nil
}

// Stop ends the polling goroutine and waits for it; it reports whether
// this call did the stopping.
func (s *Sampler) Stop() bool {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.mu.Unlock()
		return false
	}
	s.stopped = true
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	s.wg.Wait()
	return true
}

func (s *Sampler) loop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.interval) // a late read is fine here: these are gauges
	defer t.Stop()
	for {
		rs, err := s.src.Runtime(ctx)
		s.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				s.errs++
				s.lastErr = err
			}
		} else {
			s.reads = append(s.reads, rs)
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reads returns every successful read so far, oldest first.
func (s *Sampler) Reads() []RuntimeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RuntimeStats(nil), s.reads...)
}

// Errors returns how many reads failed and the last error.
func (s *Sampler) Errors() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs, s.lastErr
}

// RuntimeSeries are the sampler's reads as plot series (unknown values are
// left out).
type RuntimeSeries struct {
	Goroutines []reports.Sample
	OpenFDs    []reports.Sample
	RSSMB      []reports.Sample
	// SchedP99MS is the p99 scheduling latency between consecutive reads.
	SchedP99MS []reports.Sample
}

// Fill copies the series into a scenario result.
func (rs RuntimeSeries) Fill(sc *reports.Scenario) {
	sc.Goroutines, sc.OpenFDs, sc.RSSMB, sc.SchedP99MS = rs.Goroutines, rs.OpenFDs, rs.RSSMB, rs.SchedP99MS
}

// Series converts the reads to plot series.
func (s *Sampler) Series() RuntimeSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out RuntimeSeries
	for i, r := range s.reads {
		t := reports.Millis(r.At.Sub(s.origin))
		if r.Goroutines >= 0 {
			out.Goroutines = append(out.Goroutines, reports.Sample{TMS: t, Value: float64(r.Goroutines)})
		}
		if r.OpenFDs >= 0 {
			out.OpenFDs = append(out.OpenFDs, reports.Sample{TMS: t, Value: float64(r.OpenFDs)})
		}
		if r.RSSBytes >= 0 {
			out.RSSMB = append(out.RSSMB, reports.Sample{TMS: t, Value: float64(r.RSSBytes) / (1 << 20)})
		}
		if i > 0 {
			w := r.SchedLatency.Sub(s.reads[i-1].SchedLatency)
			if w.Total() > 0 {
				out.SchedP99MS = append(out.SchedP99MS, reports.Sample{TMS: t, Value: reports.Millis(w.Quantile(0.99))})
			}
		}
	}
	return out
}

// SchedWindow is the scheduling latency recorded between two reads.
type SchedWindow struct {
	Count    uint64
	P99, Max time.Duration
}

// SchedLatency returns the scheduling latency between two reads of the same
// server (from before to after).
func SchedLatency(before, after RuntimeStats) SchedWindow {
	w := after.SchedLatency.Sub(before.SchedLatency)
	return SchedWindow{Count: w.Total(), P99: w.Quantile(0.99), Max: w.Max()}
}

// Between returns the scheduling latency over [from, to] from the reads the
// sampler holds (the closest read at or before from and at or after to).
func (s *Sampler) Between(from, to time.Time) (SchedWindow, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a, b *RuntimeStats
	for i := range s.reads {
		r := &s.reads[i]
		if !r.At.After(from) {
			a = r
		}
		if b == nil && !r.At.Before(to) {
			b = r
		}
	}
	if b == nil && len(s.reads) > 0 {
		b = &s.reads[len(s.reads)-1]
	}
	if a == nil || b == nil || a == b {
		return SchedWindow{}, false
	}
	return SchedLatency(*a, *b), true
}

// LeakOptions configure [WaitSettled]; zero means the defaults.
type LeakOptions struct {
	// GoroutineTolerance and FDTolerance are how far above the baseline
	// still counts as settled.
	GoroutineTolerance int64
	FDTolerance        int64
	// Timeout is how long to wait for the counts to come back (default 5 s).
	Timeout time.Duration
	// Poll is the interval between reads (default 100 ms).
	Poll time.Duration
}

// LeakResult says whether goroutines and fds came back to baseline.
type LeakResult struct {
	BaselineGoroutines, Goroutines, LeakedGoroutines int64
	// Kinds are the goroutines the server has more of than at the baseline
	// by identity (GoroutineSurplus), when compared; LeakedGoroutines is
	// at least their sum, so a leak hidden in the count by a goroutine
	// that ended is still counted.
	Kinds                       []LeakedGoroutine
	BaselineFDs, FDs, LeakedFDs int64 // -1 when unknown
	// FDKinds are the descriptor targets the server has more of than at
	// the baseline ([FDSurplus]), when compared.
	FDKinds []LeakedFD
	Settled bool
	Waited  time.Duration
}

// WaitSettled polls src until goroutines and open fds are back to the
// baseline (plus tolerance) or the timeout passes, and returns the last
// counts. Leaked = last − baseline − tolerance (never below 0). An error is
// returned only if no read succeeded at all.
func WaitSettled(ctx context.Context, src RuntimeSource, baseline RuntimeStats, opts LeakOptions) (LeakResult, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	start := time.Now()
	deadline := start.Add(opts.Timeout)
	res := LeakResult{BaselineGoroutines: baseline.Goroutines, BaselineFDs: baseline.OpenFDs, FDs: -1, LeakedFDs: -1}
	var lastErr error
	ok := false
	for {
		rs, err := src.Runtime(ctx)
		if err != nil {
			lastErr = err
		} else {
			ok = true
			res.Goroutines = rs.Goroutines
			res.LeakedGoroutines = max(0, rs.Goroutines-baseline.Goroutines-opts.GoroutineTolerance)
			if rs.OpenFDs >= 0 && baseline.OpenFDs >= 0 {
				res.FDs = rs.OpenFDs
				res.LeakedFDs = max(0, rs.OpenFDs-baseline.OpenFDs-opts.FDTolerance)
			}
			if res.LeakedGoroutines == 0 && res.LeakedFDs <= 0 {
				res.Settled = true
				res.Waited = time.Since(start)
				return res, nil
			}
		}
		wait := min(opts.Poll, time.Until(deadline))
		if wait <= 0 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			res.Waited = time.Since(start)
			if !ok {
				return res, ctx.Err()
			}
			return res, nil
		case <-t.C:
		}
	}
	res.Waited = time.Since(start)
	if !ok {
		return res, lastErr
	}
	return res, nil
}

// AccountLogs builds the log bookkeeping of a scenario from the shipper's
// counters (VictoriaLogs), the stderr sink's counters (nil if unknown) and
// the fake sink's own count of records it received.
//
// Unaccounted is |emitted − delivered − dropped − pending| of the shipper
// plus the same for stderr: both must be 0 exactly. SinkReceived −
// Delivered is the sink-vs-shipper mismatch (records the sink stored but
// the shipper did not see acknowledged, or the reverse).
func AccountLogs(ship LogCounters, stderr *LogCounters, sinkReceived int64) *reports.LogAccount {
	la := &reports.LogAccount{
		Emitted:      ship.Emitted,
		Delivered:    ship.Delivered,
		Dropped:      ship.DroppedTotal(),
		DroppedBy:    ship.Dropped,
		Pending:      ship.Pending,
		SinkReceived: sinkReceived,
	}
	abs := func(v int64) int64 { return max(v, -v) }
	la.Unaccounted = abs(ship.Emitted - ship.Delivered - ship.DroppedTotal() - ship.Pending)
	if stderr != nil {
		la.StderrDropped = stderr.DroppedTotal()
		la.Unaccounted += abs(stderr.Emitted - stderr.Delivered - stderr.DroppedTotal() - stderr.Pending)
	}
	return la
}
