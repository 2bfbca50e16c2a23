package scenarios

import (
	"fmt"
	"math"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/load"
)

// Defaults of a load step.
const (
	DefaultLoadInFlight = 64
	DefaultLoadTimeout  = 30 * time.Second
	// maxLoadInFlight bounds connections and calls in flight: beyond it
	// the generator measures its own descriptors, not the server.
	maxLoadInFlight = 4096
	// maxLoadRate is far above what one machine's generator can keep.
	maxLoadRate = 1e6
	// defaultSearchP99 judges a capacity search's trials when the step
	// sets no p99: a capacity without a latency bound is meaningless.
	defaultSearchP99 = time.Second
)

// LoadName is the load's name in reports.
func (l *Load) LoadName() string {
	if l.Name == "" {
		return "load"
	}
	return l.Name
}

// Profile is the load's arrival-rate profile.
func (l *Load) Profile() load.Profile {
	if len(l.Stages) == 0 {
		return load.Constant(l.Rate, l.Duration.D())
	}
	p := load.Profile{Start: l.StartRate}
	for _, s := range l.Stages {
		p.Stages = append(p.Stages, load.Stage{Duration: s.Duration.D(), Target: s.Rate})
	}
	return p
}

// InFlight is the bound on calls in flight.
func (l *Load) InFlight() int {
	if l.MaxInFlight <= 0 {
		return DefaultLoadInFlight
	}
	return l.MaxInFlight
}

// CallTimeout bounds each call (real time).
func (l *Load) CallTimeout() time.Duration {
	if l.Timeout <= 0 {
		return DefaultLoadTimeout
	}
	return l.Timeout.D()
}

// SessionCount is how many sessions the calls are spread over.
func (l *Load) SessionCount() int { return max(l.Sessions, 1) }

// entryName names a mix entry: the call's name, else its tool, with
// "+context" when it sends files.
func entryName(c *Call) string {
	if c.Name != "" {
		return c.Name
	}
	if sendsContext(c) {
		return c.Tool + "+context"
	}
	return c.Tool
}

// sendsContext reports whether a call sends files: a model tool's call
// with its context omitted sends the whole project.
func sendsContext(c *Call) bool {
	if c.Context == nil {
		return IsModelTool(c.Tool)
	}
	return len(*c.Context) > 0
}

func (s *Scenario) validateLoad(key string, l *Load) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 && v <= maxLoadRate }
	switch {
	case l.Name != "" && !nameRe.MatchString(l.Name):
		return s.errAt(key+".name", fmt.Sprintf("bad load name %q: want lower-case letters, digits and dashes", l.Name))
	case len(l.Mix) == 0:
		return s.errAt(key+".mix", "a load needs a mix of at least one call")
	case l.MaxInFlight < 0 || l.MaxInFlight > maxLoadInFlight:
		return s.errAt(key+".max_in_flight", fmt.Sprintf("max_in_flight must be 1..%d", maxLoadInFlight))
	case l.Sessions < 0 || l.Sessions > 10000:
		return s.errAt(key+".sessions", "sessions must be 1..10000")
	case l.ChurnEvery < 0:
		return s.errAt(key+".churn_every", "churn_every must be ≥ 0 (0: never renew a session)")
	case !finite(l.Rate) || !finite(l.StartRate):
		return s.errAt(key+".rate", fmt.Sprintf("rates must be between 0 and %g calls/s", float64(maxLoadRate)))
	case !finite(l.Thresholds.ErrorRatio) || l.Thresholds.ErrorRatio > 1 || !finite(l.Thresholds.DroppedRatio) || l.Thresholds.DroppedRatio > 1:
		return s.errAt(key+".thresholds", "error_ratio and dropped_ratio must be between 0 and 1")
	case !finite(l.Thresholds.MinRate):
		return s.errAt(key+".thresholds.min_rate", "min_rate must be a rate ≥ 0")
	}
	for i, m := range l.Mix {
		k := fmt.Sprintf("%s.mix[%d]", key, i)
		switch {
		case m.Call == nil:
			return s.errAt(k, "a mix entry needs a call")
		case m.Weight < 0:
			return s.errAt(k+".weight", "weight must be ≥ 1 (default 1)")
		case m.Call.Background || m.Call.Progress || m.Call.Expect != "":
			return s.errAt(k+".call", "a load's calls cannot be background, ask for progress or expect an outcome: every call is expected to succeed")
		}
		if err := s.validateCall(k+".call", m.Call); err != nil {
			return err
		}
	}
	if _, err := load.NewMix(l.mixEntries(), 1); err != nil {
		return s.errAt(key+".mix", fmt.Sprintf("%v (name the calls apart with name:)", err))
	}
	if l.FindLimit != nil {
		if l.Rate != 0 || l.Duration != 0 || len(l.Stages) > 0 || l.StartRate != 0 {
			return s.errAt(key+".find_limit", "a capacity search sets its own rates: drop rate, duration, start_rate and stages")
		}
		return s.validateFindLimit(key+".find_limit", l.FindLimit)
	}
	if len(l.Stages) > 0 && (l.Rate != 0 || l.Duration != 0) {
		return s.errAt(key, "set rate and duration, or start_rate and stages, not both")
	}
	if err := l.Profile().Validate(); err != nil {
		return s.errAt(key, fmt.Sprintf("bad rate profile: %v", err))
	}
	return nil
}

func (s *Scenario) validateFindLimit(key string, f *FindLimit) error {
	// Each test is written so that NaN fails it.
	switch {
	case !(f.Start > 0 && f.Start <= maxLoadRate):
		return s.errAt(key+".start", "start must be a rate > 0")
	case !(f.Max >= f.Start && f.Max <= maxLoadRate):
		return s.errAt(key+".max", "max must be a rate ≥ start")
	case f.Trial <= 0:
		return s.errAt(key+".trial", "trial must be a duration > 0 (each rate is held this long)")
	case f.Trial.D().Seconds()*f.Start < 1:
		return s.errAt(key+".trial", fmt.Sprintf("a %v trial at the start rate %v/s holds no call: lengthen it or start higher", f.Trial, f.Start))
	case !(f.Resolution >= 0 && f.Resolution < 1):
		return s.errAt(key+".resolution", "resolution must be between 0 and 1 (default 0.1)")
	case !(f.Floor >= 0 && f.Floor <= maxLoadRate):
		return s.errAt(key+".floor", "floor must be a rate ≥ 0")
	}
	return nil
}

func (l *Load) mixEntries() []load.Entry {
	out := make([]load.Entry, 0, len(l.Mix))
	for _, m := range l.Mix {
		out = append(out, load.Entry{Name: entryName(m.Call), Weight: max(m.Weight, 1)})
	}
	return out
}
