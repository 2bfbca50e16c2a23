package wake

import (
	"sync/atomic"
	"time"
)

// Tick is one wake-up of a schedule, handed from the clock to a worker.
type Tick struct {
	Intended time.Time // when the schedule wanted it
}

// Handoff passes ticks from a [Clock.Run] fire callback, which must never
// block, to one goroutine that receives them from C and starts the work.
// A channel send to a parked receiver is the cheapest hand-off the runtime
// has (one goroutine made runnable); a tick that finds the buffer full is
// dropped and counted rather than delaying the clock.
type Handoff struct {
	ch      chan Tick
	dropped atomic.Int64
}

// NewHandoff returns a hand-off buffering up to size ticks.
func NewHandoff(size int) *Handoff { return &Handoff{ch: make(chan Tick, size)} }

// Fire hands a tick over without blocking; it reports false (and counts a
// drop) when the receiver is size ticks behind.
func (h *Handoff) Fire(intended time.Time) bool {
	select {
	case h.ch <- Tick{Intended: intended}:
		return true
	default:
		h.dropped.Add(1)
		return false
	}
}

// C is where the receiver takes ticks from; it is closed by Close.
func (h *Handoff) C() <-chan Tick { return h.ch }

// Close ends the hand-off once the clock has stopped firing.
func (h *Handoff) Close() { close(h.ch) }

// Dropped is the number of ticks Fire could not hand over.
func (h *Handoff) Dropped() int64 { return h.dropped.Load() }
