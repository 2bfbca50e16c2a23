package scenarios

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakesink"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// sinkFake is the part of the fake VictoriaLogs sink the runner uses.
type sinkFake interface {
	URL() string
	SetFaults(*SinkFaults) error
	Stats() map[string]int64
	Close() error
}

// fakeSink adapts scenarios/fakesink to sinkFake.
type fakeSink struct {
	s       *fakesink.Sink
	url     string
	stopped atomic.Bool // a fault window's timer may set faults concurrently
}

// startSink starts the fake log sink on loopback on the scenario's clock.
func startSink(_ context.Context, clk clock.Clock) (sinkFake, error) {
	s := fakesink.New(fakesink.WithClock(clk))
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("cannot start fake log sink: %w", err)
	}
	return &fakeSink{s: s, url: url}, nil
}

func (f *fakeSink) URL() string             { return f.url }
func (f *fakeSink) Stats() map[string]int64 { return f.s.Stats() }
func (f *fakeSink) Close() error            { return f.s.Close() }

func (f *fakeSink) SetFaults(sf *SinkFaults) error {
	var ff fakesink.Faults
	stop := false
	if sf != nil {
		ff = fakesink.Faults{Delay: fakesink.Duration(sf.Delay), StallFor: fakesink.Duration(sf.Stall),
			Hang: sf.Hang, ErrorStatus: sf.Status, ErrorCount: sf.ErrorCount}
		stop = sf.Stopped
	}
	if err := ff.Validate(); err != nil {
		return fmt.Errorf("fake sink refused the faults: %w", err)
	}
	f.s.SetFaults(ff)
	switch {
	case stop && f.stopped.CompareAndSwap(false, true):
		if err := f.s.Stop(); err != nil {
			return fmt.Errorf("cannot stop fake sink: %w", err)
		}
	case !stop && f.stopped.CompareAndSwap(true, false):
		if err := f.s.Restart(); err != nil {
			return fmt.Errorf("cannot restart fake sink: %w", err)
		}
	}
	return nil
}
