package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The synthetic run's fourth scenario, many-hosts: an open-model load at a
// steady 200 calls/s, then a capacity search, against a server whose
// latency grows with the offered rate (see loadSim.median; ×2 for calls
// that send files) and a generator that drops arrivals past 256 calls in
// flight. It has its own generator, so the other scenarios' numbers do not
// move.

// fixtureLoadBucketMS is the width of a load's series windows.
const fixtureLoadBucketMS = 1000.0

// simTool is one mix entry of a simulated load.
type simTool struct {
	name, tool string
	weight     int
	factor     float64 // latency multiplier
}

var fixtureMix = []simTool{
	{name: "consult", tool: "consult", weight: 3, factor: 1},
	{name: "consult+context", tool: "consult", weight: 1, factor: 2},
}

// simCall is one arrival of a simulated load.
type simCall struct {
	atMS, lagMS, latMS float64 // since the load began
	tool               int
	dropped            bool
	errClass           string
}

type loadSim struct {
	rng         *rand.Rand
	maxInFlight float64
	calls       []simCall
}

// median is the server's median latency at rate: a queue that nears
// saturation at 1,000 calls/s, and grows steeply past it.
func (s *loadSim) median(rate float64) float64 {
	if rate < 980 {
		return 3 / (1 - rate/1000)
	}
	return 150 * math.Pow(rate/1000, 4)
}

// run schedules rate calls/s for durMS from startMS (load time).
func (s *loadSim) run(rate, startMS, durMS float64) {
	med := s.median(rate)
	dropP := math.Max(0, 1-s.maxInFlight/(rate*med/1000))
	n := int(rate * durMS / 1000)
	s.calls = slices.Grow(s.calls, n)
	for k := 0; k < n; k++ {
		c := simCall{atMS: startMS + float64(k)*1000/rate, tool: s.pickTool()}
		switch {
		case s.rng.Float64() < dropP:
			c.dropped = true
		case rate >= 1200 && s.rng.IntN(50) == 0:
			c.errClass = "timeout"
		case s.rng.IntN(1500) == 0:
			c.errClass = "rpc:-32603"
		}
		c.lagMS = 0.04 + 0.12*s.rng.Float64()
		c.latMS = c.lagMS + med*fixtureMix[c.tool].factor*math.Exp(0.5*s.rng.NormFloat64())
		s.calls = append(s.calls, c)
	}
}

func (s *loadSim) pickTool() int {
	total := 0
	for _, t := range fixtureMix {
		total += t.weight
	}
	r := s.rng.IntN(total)
	for i, t := range fixtureMix {
		if r < t.weight {
			return i
		}
		r -= t.weight
	}
	return 0
}

var fixtureErrorSamples = map[string]string{
	"timeout":    "no answer within 5s",
	"rpc:-32603": `internal error: vector store "ctx-7" busy`,
}

// load summarises the simulated calls as the generator would.
func (s *loadSim) load(tb testing.TB, name string, step int, startMS, durMS float64) Load {
	tb.Helper()
	l := Load{Step: step, Name: name, StartMS: startMS, DurationMS: durMS, Transport: "http", Sessions: 8, Connections: 4,
		MaxInFlight: int(s.maxInFlight), Clock: "timerfd", SeriesBucketMS: fixtureLoadBucketMS}
	lat := make([]*simHist, len(fixtureMix))
	svc := make([]*simHist, len(fixtureMix))
	for i, t := range fixtureMix {
		lat[i], svc[i] = newSimHist(), newSimHist()
		l.Tools = append(l.Tools, LoadTool{Name: t.name, Tool: t.tool, Weight: t.weight})
	}
	lag := newSimHist()
	for _, c := range s.calls {
		l.Scheduled++
		t := &l.Tools[c.tool]
		if c.dropped {
			l.Dropped++
			t.Dropped++
			continue
		}
		l.Sent++
		l.Completed++
		t.Sent++
		lag.add(c.lagMS)
		lat[c.tool].add(c.latMS)
		svc[c.tool].add(c.latMS - c.lagMS)
		if c.errClass == "" {
			t.OK++
			continue
		}
		l.Errors++
		if t.Errors == nil {
			t.Errors, t.ErrorSamples = map[string]int64{}, map[string]string{}
		}
		t.Errors[c.errClass]++
		t.ErrorSamples[c.errClass] = fixtureErrorSamples[c.errClass]
	}
	for i := range l.Tools {
		l.Tools[i].Latency, l.Tools[i].Service = lat[i].latencies(tb), svc[i].latencies(tb)
	}
	l.SendLag = lag.latencies(tb)
	l.OfferedRate = roundMS(float64(l.Scheduled) / (durMS / 1000))
	l.AchievedRate = roundMS(float64(l.Completed) / (durMS / 1000))
	l.Series = s.series(durMS)
	return l
}

// series counts arrivals by the window they were due in, and answers by
// the window they came back in.
func (s *loadSim) series(durMS float64) []LoadSample {
	n := int(math.Ceil(durMS / fixtureLoadBucketMS))
	out := make([]LoadSample, n)
	answered := make([][]float64, n)
	win := func(ms float64) int { return min(int(ms/fixtureLoadBucketMS), n-1) }
	for i := range out {
		out[i].TMS = float64(i) * fixtureLoadBucketMS
	}
	for _, c := range s.calls {
		w := &out[win(c.atMS)]
		w.Offered++
		if c.dropped {
			w.Dropped++
			continue
		}
		w.Sent++
		done := win(c.atMS + c.latMS)
		out[done].Completed++
		if c.errClass != "" {
			out[done].Errors++
		}
		answered[done] = append(answered[done], c.latMS)
	}
	for i, a := range answered {
		if len(a) > 0 {
			out[i].P50MS, out[i].P99MS, out[i].MaxMS = quantileMS(a, 0.5), quantileMS(a, 0.99), quantileMS(a, 1)
		}
	}
	return out
}

// simHist collects latencies in ms.
type simHist struct{ v []float64 }

func newSimHist() *simHist        { return &simHist{} }
func (h *simHist) add(ms float64) { h.v = append(h.v, ms) }

func (h *simHist) latencies(tb testing.TB) *Latencies {
	tb.Helper()
	hist := NewHistogram()
	for _, v := range h.v {
		Record(hist, FromMillis(v))
	}
	l, err := NewLatencies(hist)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// quantileMS is the q-quantile of vs (sorted in place), rounded like a result.
func quantileMS(vs []float64, q float64) float64 {
	sort.Float64s(vs)
	i := max(int(math.Ceil(q*float64(len(vs))))-1, 0)
	return roundMS(vs[i])
}

// fixtureLimits are what a trial of the capacity search must hold.
var fixtureLimits = CapacityLimits{P99MS: 250, ErrorRatio: 0.01, DroppedRatio: 0.01}

// capacitySearch runs each rate for trialMS in turn, as a find_limit
// search would (doubling, then bisecting), and judges the trials.
func capacitySearch(tb testing.TB, rng *rand.Rand, rates []float64, trialMS float64) Load {
	tb.Helper()
	s := &loadSim{rng: rng, maxInFlight: 256}
	c := &Capacity{Limits: fixtureLimits}
	for i, rate := range rates {
		from := len(s.calls)
		s.run(rate, float64(i)*trialMS, trialMS)
		c.Trials = append(c.Trials, judgeTrial(rate, float64(i)*trialMS, trialMS, s.calls[from:]))
	}
	finishCapacity(c)
	l := s.load(tb, "find-limit", 2, 32000, float64(len(rates))*trialMS)
	l.PeakRate = slices.Max(rates)
	l.Capacity = c
	return l
}

func judgeTrial(rate, startMS, durMS float64, calls []simCall) Trial {
	t := Trial{Rate: rate, StartMS: startMS, DurationMS: durMS}
	var lats, lags []float64
	var errs, dropped int
	for _, c := range calls {
		if c.dropped {
			dropped++
			continue
		}
		t.Sent++
		lats, lags = append(lats, c.latMS), append(lags, c.lagMS)
		if c.errClass != "" {
			errs++
		}
	}
	t.Achieved = roundMS(float64(t.Sent) / (durMS / 1000))
	t.P50MS, t.P99MS, t.SendLagP99MS = quantileMS(lats, 0.5), quantileMS(lats, 0.99), quantileMS(lags, 0.99)
	t.ErrorRatio = roundMS(float64(errs) / float64(t.Sent))
	t.DroppedRatio = roundMS(float64(dropped) / float64(len(calls)))
	var broke []string
	if t.P99MS > fixtureLimits.P99MS {
		broke = append(broke, fmt.Sprintf("p99 %s > %s", FormatMS(t.P99MS), FormatMS(fixtureLimits.P99MS)))
	}
	if t.ErrorRatio > fixtureLimits.ErrorRatio {
		broke = append(broke, fmt.Sprintf("errors %s > %s", ratioText(t.ErrorRatio), ratioText(fixtureLimits.ErrorRatio)))
	}
	if t.DroppedRatio > fixtureLimits.DroppedRatio {
		broke = append(broke, fmt.Sprintf("dropped %s > %s", ratioText(t.DroppedRatio), ratioText(fixtureLimits.DroppedRatio)))
	}
	t.Pass, t.Broke = len(broke) == 0, strings.Join(broke, ", ")
	return t
}

// finishCapacity names the highest passing rate, what broke just above it,
// and the resolution the search stopped at.
func finishCapacity(c *Capacity) {
	var lowestFail *Trial
	for i := range c.Trials {
		t := &c.Trials[i]
		if t.Pass && t.Rate > c.Rate {
			c.Rate, c.P50MS, c.P99MS = t.Rate, t.P50MS, t.P99MS
		}
	}
	for i := range c.Trials {
		t := &c.Trials[i]
		if !t.Pass && t.Rate > c.Rate && (lowestFail == nil || t.Rate < lowestFail.Rate) {
			lowestFail = t
		}
	}
	if lowestFail != nil {
		c.Limit = lowestFail.Broke + " at " + rateText(lowestFail.Rate)
		c.Bound = fmt.Sprintf("resolution %.0f %%", (lowestFail.Rate/c.Rate-1)*100)
	}
}

// manyHostsScenario is the fixture's load scenario: a steady load, then a
// capacity search, and the checks a runner would set on them.
func manyHostsScenario(tb testing.TB, startedAt time.Time) Scenario {
	tb.Helper()
	rng := rand.New(rand.NewPCG(8, 4242))
	steadySim := &loadSim{rng: rng, maxInFlight: 256}
	steadySim.run(200, 0, 30000)
	steady := steadySim.load(tb, "steady", 0, 1000, 30000)
	steady.PeakRate = 200
	search := capacitySearch(tb, rng, []float64{100, 200, 400, 800, 1600, 1200, 1000, 900, 950}, 3000)
	p99 := LoadLatency(&steady).P99
	return Scenario{
		Name:        "many-hosts",
		Description: "Several hosts' sessions send context queries at a steady arrival rate, then a capacity search finds the rate the server holds.",
		Source:      "multiple Claude instances affected simultaneously",
		Verdict:     VerdictPass,
		Repeats:     1,
		StartedAt:   startedAt,
		DurationMS:  60000,
		Steps: []Step{
			{Index: 0, Kind: "load", Name: "steady", StartMS: 1000, LatencyMS: 30000, Outcome: OutcomeOK, Pass: true},
			{Index: 1, Kind: "gap", Name: "1 s", StartMS: 31000, LatencyMS: 1000, Outcome: OutcomeOK, Pass: true},
			{Index: 2, Kind: "load", Name: "find-limit", StartMS: 32000, LatencyMS: search.DurationMS, Outcome: OutcomeOK, Pass: true},
		},
		Checks: []Check{
			{Name: "load.steady.p99", Unit: "ms", Op: "<=", Threshold: 250, Value: p99, Pass: p99 <= 250, Samples: steady.Completed},
			{Name: "load.find-limit.capacity_floor", Unit: UnitRate, Op: ">=", Threshold: 500, Value: search.Capacity.Rate, Pass: search.Capacity.Rate >= 500},
		},
		Loads: []Load{steady, search},
	}
}
