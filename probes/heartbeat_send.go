package probes

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrWouldBlock is what a [Sender] returns when it cannot send a probe
// without waiting.
var ErrWouldBlock = errors.New("probes: the probe cannot be sent without waiting")

// Sender sends a probe without waiting for its answer. With one in
// [HeartbeatOptions], the heartbeat sends probes from its clock's own
// thread the moment it wakes, so a probe's send lag is the clock's
// lateness alone. Handing each tick to a goroutine instead costs what the
// Go scheduler and the kernel take to run it: on a 2-vCPU VM during a
// context query, p99 0.7–2 ms on top of a 0.1–0.4 ms clock.
type Sender interface {
	// TrySend writes one probe of kind (a ping, or the no-op tool call)
	// if it can do so at once, without blocking, and arranges for
	// answered to be called once, from another goroutine, with the
	// answer's arrival time or the error that answered it (a JSON-RPC
	// error, a tool error). The returned forget makes the sender drop the
	// probe (its answer, if any, is then discarded, answered not called).
	// When it cannot write without waiting (a writer busy, a full pipe),
	// it returns ErrWouldBlock having sent nothing, and the heartbeat
	// sends that probe the ordinary way, through the Target. It must be
	// safe for concurrent use.
	TrySend(kind Kind, answered func(at time.Time, err error)) (forget func(), err error)
}

// sendNow sends a probe from the clock's thread through the Sender and
// reports whether it did; false means the caller must send it the ordinary
// way. Everything it does is non-blocking: atomics, timers, the sender's
// non-blocking write. The answer, the timeout or the heartbeat stopping
// ends the probe (finish), whichever comes first. Every field finish reads
// is set before the write, so an answer may arrive at once.
func (h *Heartbeat) sendNow(ctx context.Context, kind Kind, interval time.Duration, phase string, intended time.Time) bool {
	out := h.sentOut(kind)
	if out.Add(1) > int64(h.maxOutstanding(interval)) {
		out.Add(-1)
		return false // the ordinary path counts the drop
	}
	h.sentWG.Add(1)
	p := &sentProbe{h: h, kind: kind, out: out, phase: phase, intended: intended}
	// Timers are made stopped and armed once assigned: a very late tick's
	// deadline may already have passed.
	p.timeout = time.AfterFunc(time.Hour, func() { p.finish(time.Now(), context.DeadlineExceeded, true) })
	p.timeout.Stop()
	if h.opts.OnBreach != nil && h.opts.BreachThreshold > 0 {
		p.breach = time.AfterFunc(time.Hour, func() {
			h.signalBreach(Breach{Kind: kind, Phase: phase, Intended: intended,
				Elapsed: time.Since(intended), Threshold: h.opts.BreachThreshold})
		})
		p.breach.Stop()
		p.breach.Reset(time.Until(intended.Add(h.opts.BreachThreshold)))
	}
	p.timeout.Reset(time.Until(intended.Add(h.opts.Timeout)))
	stop := context.AfterFunc(ctx, func() { p.finish(time.Time{}, ctx.Err(), false) })
	p.stop.Store(&stop)
	p.lag = time.Since(intended)
	forget, err := h.opts.Sender.TrySend(kind, p.answered)
	switch {
	case errors.Is(err, ErrWouldBlock):
		p.abandon()
		return false
	case err != nil:
		p.finish(time.Now(), err, false)
		return true
	}
	p.forget.Store(&forget)
	return true
}

// sentProbe is one probe sent by sendNow, until it ends.
type sentProbe struct {
	h        *Heartbeat
	kind     Kind
	out      *atomic.Int64 // the heartbeat's count of this kind's probes sent and not ended
	phase    string
	intended time.Time
	lag      time.Duration
	timeout  *time.Timer
	breach   *time.Timer
	stop     atomic.Pointer[func() bool] // set just after registering: its callback may run first
	forget   atomic.Pointer[func()]
	done     atomic.Bool
}

func (p *sentProbe) answered(at time.Time, err error) { p.finish(at, err, false) }

// finish ends the probe once and records it, unless the heartbeat is
// stopping (at zero).
func (p *sentProbe) finish(at time.Time, err error, timedOut bool) {
	if !p.end() {
		return
	}
	if f := p.forget.Load(); f != nil && (timedOut || at.IsZero()) {
		(*f)() // no answer came: the sender may drop the probe
	}
	h := p.h
	defer h.sentWG.Done()
	if at.IsZero() {
		return // the heartbeat stopped: cut short by us, not by the server
	}
	h.record(p.kind, p.phase, p.intended, p.lag, at.Sub(p.intended), err, timedOut)
}

// abandon ends a probe that was never sent, recording nothing.
func (p *sentProbe) abandon() {
	if p.end() {
		p.h.sentWG.Done()
	}
}

// end marks the probe ended and releases its timers and slot; it reports
// whether this call ended it.
func (p *sentProbe) end() bool {
	if !p.done.CompareAndSwap(false, true) {
		return false
	}
	p.timeout.Stop()
	if p.breach != nil {
		p.breach.Stop()
	}
	if stop := p.stop.Load(); stop != nil {
		(*stop)()
	}
	p.out.Add(-1)
	return true
}

// sentOut is the count of kind's probes sent by sendNow and not ended.
func (h *Heartbeat) sentOut(kind Kind) *atomic.Int64 {
	if kind == KindNoop {
		return &h.sentNoops
	}
	return &h.sentPings
}
