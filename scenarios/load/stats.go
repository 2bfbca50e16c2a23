package load

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// Error classes of a call that did not end well.
const (
	ClassToolError = "tool_error" // the tool answered isError
	ClassTimeout   = "timeout"    // no answer within the call's timeout
	ClassTransport = "transport"  // the pipe or connection failed
	ClassCancelled = "cancelled"  // the run stopped before the answer
)

// ClassRPC is the class of a JSON-RPC error answer.
func ClassRPC(code int) string { return fmt.Sprintf("rpc:%d", code) }

// ClassHTTP is the class of an HTTP answer that is not a JSON-RPC message.
func ClassHTTP(status int) string { return fmt.Sprintf("http:%d", status) }

// Stats are what one [Run] measured. The clock thread only touches
// atomics (the per-window counters it fills are allocated up front); every
// answer is recorded under mu by whoever delivers it.
type Stats struct {
	Profile     Profile
	MaxInFlight int
	Clock       string
	Start       time.Time // the schedule's time zero
	Bucket      time.Duration
	Elapsed     time.Duration // from Start until the last call ended

	scheduled, sent, dropped, blocked atomic.Int64
	offeredW, sentW, droppedW         []atomic.Int64 // per window, by intended time
	entryDropped                      []atomic.Int64 // per entry of the mix

	mu        sync.Mutex
	entries   []*entryStats
	sendLag   *hdrhistogram.Histogram
	wakeLag   *hdrhistogram.Histogram
	completed int64
	errors    int64
	windows   []*window // by answer time
}

type entryStats struct {
	name               string
	sent, ok           int64
	classes            map[string]int64
	samples            map[string]string
	corrected, service *hdrhistogram.Histogram
}

type window struct {
	completed, errors int64
	lat               *hdrhistogram.Histogram
}

func newStats(p Profile, mix *Mix, maxInFlight int, clock string, bucket time.Duration) *Stats {
	n := int(p.Duration()/bucket) + 1
	s := &Stats{Profile: p, MaxInFlight: maxInFlight, Clock: clock, Bucket: bucket,
		offeredW: make([]atomic.Int64, n), sentW: make([]atomic.Int64, n), droppedW: make([]atomic.Int64, n),
		entryDropped: make([]atomic.Int64, len(mix.Entries())),
		sendLag:      reports.NewHistogram(), wakeLag: reports.NewHistogram()}
	for _, e := range mix.Entries() {
		s.entries = append(s.entries, &entryStats{name: e.Name, classes: map[string]int64{}, samples: map[string]string{},
			corrected: reports.NewHistogram(), service: reports.NewHistogram()})
	}
	return s
}

// autoBucket picks the series window: about 120 points, never under 100 ms.
func autoBucket(d time.Duration) time.Duration {
	b := (d / 120).Round(100 * time.Millisecond)
	return max(b, 100*time.Millisecond)
}

func (s *Stats) win(ws []atomic.Int64, t time.Time) *atomic.Int64 {
	i := int(t.Sub(s.Start) / s.Bucket)
	return &ws[min(max(i, 0), len(ws)-1)]
}

// offer counts a scheduled arrival (clock thread).
func (s *Stats) offer(intended time.Time) {
	s.scheduled.Add(1)
	s.win(s.offeredW, intended).Add(1)
}

// drop counts an arrival not sent (clock thread).
func (s *Stats) drop(intended time.Time, entry int) {
	s.dropped.Add(1)
	s.entryDropped[entry].Add(1)
	s.win(s.droppedW, intended).Add(1)
}

func (s *Stats) markSent(intended time.Time, blocked bool) {
	s.sent.Add(1)
	s.win(s.sentW, intended).Add(1)
	if blocked {
		s.blocked.Add(1)
	}
}

// result records one ended call.
func (s *Stats) result(c *slot, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[c.req.Entry]
	e.sent++
	sentAt := s.Start.Add(time.Duration(c.sentAt.Load()))
	reports.Record(s.sendLag, sentAt.Sub(c.req.Intended))
	reports.Record(s.wakeLag, c.woke.Sub(c.req.Intended))
	s.completed++
	if a.Class == "" {
		e.ok++
	} else {
		s.errors++
		e.classes[a.Class]++
		if _, ok := e.samples[a.Class]; !ok {
			e.samples[a.Class] = truncate(a.Detail, 300)
		}
	}
	w := s.window(a.At)
	if a.Class != "" {
		// A failure has no latency worth a percentile: a server that
		// fails fast would lower the p99 and raise the rate answered.
		w.errors++
		return
	}
	w.completed++
	lat := a.At.Sub(c.req.Intended)
	reports.Record(e.corrected, lat)
	reports.Record(e.service, a.At.Sub(sentAt))
	reports.Record(w.lat, lat)
}

func (s *Stats) window(at time.Time) *window {
	i := max(int(at.Sub(s.Start)/s.Bucket), 0)
	for len(s.windows) <= i {
		s.windows = append(s.windows, nil)
	}
	if s.windows[i] == nil {
		s.windows[i] = &window{lat: reports.NewHistogram()}
	}
	return s.windows[i]
}

// Sent, Dropped, Scheduled and Blocked count arrivals so far.
func (s *Stats) Sent() int64      { return s.sent.Load() }
func (s *Stats) Dropped() int64   { return s.dropped.Load() }
func (s *Stats) Scheduled() int64 { return s.scheduled.Load() }
func (s *Stats) Blocked() int64   { return s.blocked.Load() }

// Summary is the figures a capacity search judges a trial by.
type Summary struct {
	Sent, Completed, Errors, Dropped int64
	Achieved                         float64 // answered calls per second of the profile
	P50, P99                         time.Duration
	SendLagP99, WakeLagP99           time.Duration
	ErrorRatio, DroppedRatio         float64
}

// Summary merges every entry's corrected latencies (of the calls that
// succeeded).
func (s *Stats) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := reports.NewHistogram()
	for _, e := range s.entries {
		all.Merge(e.corrected)
	}
	sum := Summary{Sent: s.sent.Load(), Completed: s.completed, Errors: s.errors, Dropped: s.dropped.Load(),
		P50: time.Duration(all.ValueAtQuantile(50)), P99: time.Duration(all.ValueAtQuantile(99)),
		SendLagP99: time.Duration(s.sendLag.ValueAtQuantile(99)), WakeLagP99: time.Duration(s.wakeLag.ValueAtQuantile(99))}
	if d := s.Profile.Duration().Seconds(); d > 0 {
		sum.Achieved = float64(all.TotalCount()) / d
	}
	if sum.Completed > 0 {
		sum.ErrorRatio = float64(sum.Errors) / float64(sum.Completed)
	}
	if n := s.scheduled.Load(); n > 0 {
		sum.DroppedRatio = float64(sum.Dropped) / float64(n)
	}
	return sum
}

// Report converts the stats into result.json's form. tools maps an entry
// name to the tool it calls; weights come from the mix.
func (s *Stats) Report(mix *Mix, tools map[string]string) (*reports.Load, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &reports.Load{OfferedRate: round(s.Profile.Mean()), PeakRate: round(s.Profile.Peak()),
		DurationMS: reports.Millis(s.Elapsed), MaxInFlight: s.MaxInFlight, Clock: s.Clock,
		Scheduled: s.scheduled.Load(), Sent: s.sent.Load(), Dropped: s.dropped.Load(), Blocked: s.blocked.Load(),
		Completed: s.completed, Errors: s.errors, SeriesBucketMS: reports.Millis(s.Bucket)}
	var err error
	if l.SendLag, err = reports.NewLatencies(s.sendLag); err != nil {
		return nil, fmt.Errorf("cannot summarize send lag: %w", err)
	}
	if l.WakeLag, err = reports.NewLatencies(s.wakeLag); err != nil {
		return nil, fmt.Errorf("cannot summarize wake lag: %w", err)
	}
	answered := int64(0)
	for i, e := range s.entries {
		t := reports.LoadTool{Name: e.name, Tool: tools[e.name], Weight: mix.entries[i].Weight, Sent: e.sent, OK: e.ok, Dropped: s.entryDropped[i].Load()}
		if len(e.classes) > 0 {
			t.Errors, t.ErrorSamples = e.classes, e.samples
		}
		if t.Latency, err = reports.NewLatencies(e.corrected); err != nil {
			return nil, fmt.Errorf("cannot summarize %s: %w", e.name, err)
		}
		if t.Service, err = reports.NewLatencies(e.service); err != nil {
			return nil, fmt.Errorf("cannot summarize %s: %w", e.name, err)
		}
		answered += e.corrected.TotalCount()
		l.Tools = append(l.Tools, t)
	}
	sort.SliceStable(l.Tools, func(i, j int) bool { return l.Tools[i].Name < l.Tools[j].Name })
	if d := s.Profile.Duration().Seconds(); d > 0 {
		l.AchievedRate = round(float64(answered) / d)
	}
	l.Series = s.series()
	return l, nil
}

func (s *Stats) series() []reports.LoadSample {
	n := max(len(s.offeredW), len(s.windows))
	out := make([]reports.LoadSample, 0, n)
	for i := range n {
		p := reports.LoadSample{TMS: reports.Millis(time.Duration(i) * s.Bucket)}
		if i < len(s.offeredW) {
			p.Offered, p.Sent, p.Dropped = s.offeredW[i].Load(), s.sentW[i].Load(), s.droppedW[i].Load()
		}
		if i < len(s.windows) && s.windows[i] != nil {
			w := s.windows[i]
			p.Completed, p.Errors = w.completed, w.errors
			if w.lat.TotalCount() > 0 {
				p.P50MS = reports.Millis(time.Duration(w.lat.ValueAtQuantile(50)))
				p.P99MS = reports.Millis(time.Duration(w.lat.ValueAtQuantile(99)))
				p.MaxMS = reports.Millis(time.Duration(w.lat.Max()))
			}
		}
		out = append(out, p)
	}
	return out
}

func round(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
