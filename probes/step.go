package probes

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// Step collects the profiles of one scenario step: block and mutex profile
// deltas over the step, goroutine dumps sampled during it, at a heartbeat
// breach, and after it, and the flight-recorder windows fetched at a
// breach with the waits read from them. Create it with
// [DebugClient.BeginStep]. Safe for concurrent use (the heartbeat's breach
// callback and the runner's goroutine may both add to it).
type Step struct {
	c    *DebugClient
	name string

	mu          sync.Mutex
	blockBefore *profile.Profile
	mutexBefore *profile.Profile
	dumps       []*GoroutineDump
	block       []StackSample
	mutex       []StackSample
	raw         []SavedProfile
	ended       bool
	trace       []TraceWait
	cpuOpen     bool          // a CPU profile window is open on the server for this step
	cpu         []StackSample // the window's samples, once closed
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// BeginStep fetches the block and mutex profiles the step's deltas start
// from. A failed fetch is returned but the Step is still usable (its
// deltas then cover the whole process life).
func (c *DebugClient) BeginStep(ctx context.Context, name string) (*Step, error) {
	s := &Step{c: c, name: unsafeName.ReplaceAllString(name, "_")}
	var errs []error
	for _, which := range []string{"block", "mutex"} {
		p, _, err := s.fetchProfile(ctx, which)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		if which == "block" {
			s.blockBefore = p
		} else {
			s.mutexBefore = p
		}
		s.mu.Unlock()
	}
	// A server without the window, or with one already open (an earlier
	// step's that failed to close), gives no CPU evidence for this step.
	s.cpuOpen = c.StartCPU(ctx) == nil
	return s, errors.Join(errs...)
}

func (s *Step) fetchProfile(ctx context.Context, which string) (*profile.Profile, []byte, error) {
	b, err := s.c.Profile(ctx, which)
	if err != nil {
		return nil, nil, err
	}
	p, err := ParseProfile(b)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot parse %s profile of step %q: %w", which, s.name, err)
	}
	return p, b, nil
}

// SampleGoroutines takes a goroutine dump ([DebugClient.Goroutines]) now and
// keeps it as evidence; the runner calls it during a step (e.g. at its
// midpoint and just before cancelling) and after it settles.
func (s *Step) SampleGoroutines(ctx context.Context) (*GoroutineDump, error) {
	d, err := s.c.Goroutines(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.dumps)
	s.dumps = append(s.dumps, d)
	if d.Proto != nil {
		s.raw = append(s.raw, SavedProfile{Name: fmt.Sprintf("%s-goroutine-%d.pb.gz", s.name, n), Data: d.Proto})
	}
	s.raw = append(s.raw, SavedProfile{Name: fmt.Sprintf("%s-goroutine-%d.txt", s.name, n), Data: d.Text})
	return d, nil
}

// OnBreach is what the runner's [HeartbeatOptions.OnBreach] should call
// for the current step: two goroutine dumps a short gap apart (so waits
// shorter than the runtime's 1-minute resolution are measured) and the
// flight-recorder window, whose waits ([ParseTraceWaits]) join the step's
// evidence — those after the end of the last window the step's
// [DebugClient] read, in this step or an earlier one, so that summing
// steps counts no wait twice. Errors are joined; whatever was fetched is
// kept, and the raw window is saved even when it cannot be parsed.
func (s *Step) OnBreach(ctx context.Context, gap time.Duration) error {
	var errs []error
	if _, err := s.SampleGoroutines(ctx); err != nil {
		errs = append(errs, err)
	}
	tr, err := s.c.FlightRecorder(ctx)
	if err != nil {
		errs = append(errs, err)
	} else {
		s.mu.Lock()
		s.raw = append(s.raw, SavedProfile{Name: fmt.Sprintf("%s-breach-%d.trace", s.name, len(s.raw)), Data: tr})
		s.mu.Unlock()
	}
	if gap > 0 {
		t := time.NewTimer(gap)
		select {
		case <-ctx.Done():
			// The heartbeat is stopping and waits for this call: the
			// window is saved, unparsed.
			t.Stop()
			return errors.Join(append(errs, ctx.Err())...)
		case <-t.C:
		}
		if _, err := s.SampleGoroutines(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Parsed last: it takes a CPU for a while (~20 ms a MB), and must not
	// delay the second dump.
	if tr != nil {
		if err := s.addTrace(tr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Step) addTrace(tr []byte) error {
	waits, err := s.c.traceWaits(tr)
	s.mu.Lock()
	s.trace = MergeTraceWaits(s.trace, waits)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("cannot parse the flight-recorder window of step %q: %w", s.name, err)
	}
	return nil
}

// End fetches the block and mutex profiles again and keeps the deltas,
// and takes a last goroutine dump. Calling it twice is a no-op.
func (s *Step) End(ctx context.Context) error {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil
	}
	s.ended = true
	before := map[string]*profile.Profile{"block": s.blockBefore, "mutex": s.mutexBefore}
	s.mu.Unlock()
	var errs []error
	for _, which := range []string{"block", "mutex"} {
		after, _, err := s.fetchProfile(ctx, which)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d, err := Delta(before[which], after)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot diff the %s profile of step %q: %w", which, s.name, err))
			continue
		}
		enc, err := EncodeProfile(d)
		if err != nil {
			errs = append(errs, err)
		}
		s.mu.Lock()
		if which == "block" {
			s.block = Samples(d)
		} else {
			s.mutex = Samples(d)
		}
		s.raw = append(s.raw, SavedProfile{Name: fmt.Sprintf("%s-%s-delta.pb.gz", s.name, which), Data: enc})
		s.mu.Unlock()
	}
	if err := s.endCPU(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.SampleGoroutines(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// endCPU closes the step's CPU profile window and keeps its samples.
func (s *Step) endCPU(ctx context.Context) error {
	if !s.cpuOpen {
		return nil
	}
	b, err := s.c.StopCPU(ctx)
	if err != nil {
		return err
	}
	p, err := ParseProfile(b)
	if err != nil {
		return fmt.Errorf("cannot parse the CPU profile of step %q: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpu = Samples(p)
	s.raw = append(s.raw, SavedProfile{Name: s.name + "-cpu.pb.gz", Data: b})
	return nil
}

// CPU returns the samples of the step's CPU profile window (none before
// End, or when the server has no window).
func (s *Step) CPU() []StackSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StackSample(nil), s.cpu...)
}

// Dumps returns the goroutine dumps taken so far, oldest first.
func (s *Step) Dumps() []*GoroutineDump {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*GoroutineDump(nil), s.dumps...)
}

// Evidence returns what the step collected, for [Diagnose].
func (s *Step) Evidence() Evidence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Evidence{
		Dumps: append([]*GoroutineDump(nil), s.dumps...),
		Block: append([]StackSample(nil), s.block...),
		Mutex: append([]StackSample(nil), s.mutex...),
		Trace: append([]TraceWait(nil), s.trace...),
	}
}

// SaveProfiles writes every raw profile of the step into dir (goroutine
// protos and texts, block/mutex deltas, flight-recorder traces) and returns
// the paths; `go tool pprof` opens the .pb.gz files, `go tool trace` the
// .trace files.
func (s *Step) SaveProfiles(dir string) ([]string, error) {
	s.mu.Lock()
	raw := append([]SavedProfile(nil), s.raw...)
	s.mu.Unlock()
	return SaveProfiles(dir, raw)
}

// Diagnose ranks the step's evidence (see [Diagnose]); profiles lists the
// paths [Step.SaveProfiles] returned, relative to --out if the caller
// wants.
func (s *Step) Diagnose(opts DiagnoseOptions, profiles []string) *reports.Diagnosis {
	ev := s.Evidence()
	ev.Profiles = profiles
	return Diagnose(ev, opts)
}
