package scenarios

import (
	"context"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// sinkFake is the part of the fake VictoriaLogs sink the runner uses.
type sinkFake interface {
	URL() string
	SetFaults(*SinkFaults) error
	Stats() map[string]int64
	Close() error
}

// startSink starts the fake log sink. Until scenarios/fakesink lands there
// is none: the server then runs without --victorialogs-url, and a scenario
// that sets sink faults fails with a clear error.
func startSink(ctx context.Context, clk clock.Clock) (sinkFake, error) {
	return nil, nil
}
