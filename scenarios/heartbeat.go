package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/reports"
)

// heartbeatObserver runs the probes' open-loop heartbeat for a whole
// scenario: over stdio interleaved on the scenario's own pipe (as a host's
// pings would be), over HTTP on a connection of its own. It fills the
// result's heartbeat and per-phase latencies; verdicts on them are the
// probes package's.
type heartbeatObserver struct {
	opts probes.HeartbeatOptions
	hb   *probes.Heartbeat
	own  *Session // the heartbeat's own connection (HTTP), closed at Stop
}

// NewHeartbeatObserver returns an Observer running a probes.Heartbeat with
// opts (Origin is set to the scenario's start).
func NewHeartbeatObserver(opts probes.HeartbeatOptions) Observer {
	return &heartbeatObserver{opts: opts}
}

func (o *heartbeatObserver) Start(ctx context.Context, t *Target) error {
	target := t.Session
	if t.Dial != nil {
		s, err := t.Dial(ctx)
		if err != nil {
			return fmt.Errorf("cannot open the heartbeat's connection: %w", err)
		}
		o.own, target = s, s
	}
	opts := o.opts
	opts.Origin = time.Now().Add(-t.Elapsed())
	o.hb = probes.NewHeartbeat(target, opts)
	if err := o.hb.Start(ctx); err != nil {
		if o.own != nil {
			_ = o.own.Close()
		}
		return fmt.Errorf("cannot start heartbeat: %w", err)
	}
	return nil
}

func (o *heartbeatObserver) SetPhase(name string) {
	if o.hb != nil {
		o.hb.SetPhase(name)
	}
}

func (o *heartbeatObserver) Stop(_ context.Context, res *reports.Scenario) error {
	if o.hb == nil {
		return nil
	}
	o.hb.Stop()
	if o.own != nil {
		_ = o.own.Close()
	}
	snap := o.hb.Snapshot()
	res.Heartbeat = snap.Report()
	res.Phases = snap.ReportPhases()
	return nil
}
