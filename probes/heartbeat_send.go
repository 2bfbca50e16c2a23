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
// non-blocking write. The write comes first and the probe's timers are
// armed after it: arming them first put 0.04–0.6 ms (p99) of timer and
// context bookkeeping into the send lag. The answer, the timeout or the
// heartbeat stopping ends the probe (finish), whichever comes first; an
// answer may arrive before arm runs.
func (h *Heartbeat) sendNow(ctx context.Context, kind Kind, interval time.Duration, phase string, intended time.Time) bool {
	out := h.sentOut(kind)
	if out.Add(1) > int64(h.maxOutstanding(interval)) {
		out.Add(-1)
		return false // the ordinary path counts the drop
	}
	h.sentWG.Add(1)
	p := &sentProbe{h: h, kind: kind, out: out, phase: phase, intended: intended}
	p.lag = time.Since(intended) // finish reads it: set before the write
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
	p.arm(ctx)
	return true
}

// arm starts the probe's timeout, its breach timer and its stop on ctx.
// When the probe ended meanwhile (end saw none of them), it stops what it
// just started.
func (p *sentProbe) arm(ctx context.Context) {
	h := p.h
	timeout := time.AfterFunc(time.Until(p.intended.Add(h.opts.Timeout)), func() { p.finish(time.Now(), context.DeadlineExceeded, true) })
	p.timeout.Store(timeout)
	if h.opts.OnBreach != nil && h.opts.BreachThreshold > 0 {
		kind, phase, intended := p.kind, p.phase, p.intended
		p.breach.Store(time.AfterFunc(time.Until(intended.Add(h.opts.BreachThreshold)), func() {
			h.signalBreach(Breach{Kind: kind, Phase: phase, Intended: intended,
				Elapsed: time.Since(intended), Threshold: h.opts.BreachThreshold})
		}))
	}
	stop := context.AfterFunc(ctx, func() { p.finish(time.Time{}, ctx.Err(), false) })
	p.stop.Store(&stop)
	if p.done.Load() {
		p.release()
	}
}

// sentProbe is one probe sent by sendNow, until it ends.
type sentProbe struct {
	h        *Heartbeat
	kind     Kind
	out      *atomic.Int64 // the heartbeat's count of this kind's probes sent and not ended
	phase    string
	intended time.Time
	lag      time.Duration
	timeout  atomic.Pointer[time.Timer] // armed after the write: nil until then
	breach   atomic.Pointer[time.Timer]
	stop     atomic.Pointer[func() bool]
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
	p.release()
	p.out.Add(-1)
	return true
}

// release stops whichever of the probe's timers and its stop on ctx are
// armed; a second call is harmless.
func (p *sentProbe) release() {
	if t := p.timeout.Load(); t != nil {
		t.Stop()
	}
	if t := p.breach.Load(); t != nil {
		t.Stop()
	}
	if stop := p.stop.Load(); stop != nil {
		(*stop)()
	}
}

// sentOut is the count of kind's probes sent by sendNow and not ended.
func (h *Heartbeat) sentOut(kind Kind) *atomic.Int64 {
	if kind == KindNoop {
		return &h.sentNoops
	}
	return &h.sentPings
}
