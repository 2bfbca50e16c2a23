package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
)

// ErrWouldBlock is what [Sender.TrySend] returns when it cannot write a
// call without waiting.
var ErrWouldBlock = errors.New("load: the call cannot be written without waiting")

// Request is one arrival: which entry of the mix it calls and when it was
// due. Token identifies the call until it ends; Slot, below the run's
// MaxInFlight, is the call's alone while it is in flight (a sender may
// keep per-call state in an array indexed by it).
type Request struct {
	Index    uint64
	Entry    int
	Intended time.Time
	Token    uint64
	Slot     int
}

// tokenSlotShift places a call's slot above its sequence number in its
// token.
const tokenSlotShift = 40

// TokenSlot is the slot of the call a token names (Request.Slot), for a
// sender that gets only the token back with an answer.
func TokenSlot(token uint64) int { return int(token >> tokenSlotShift) }

// Answer is how a call ended, as the sender saw it.
type Answer struct {
	Token  uint64    // the request's
	At     time.Time // when the answer arrived
	Class  string    // "" when the call succeeded; else an error class
	Detail string    // the error's message, for the report
}

// Done takes the answers of a run's calls.
type Done interface {
	// Answered is called once per call written, from a goroutine of the
	// sender's, with the answer (whose Token is the request's), unless
	// the call was abandoned first.
	Answered(a Answer)
}

// Sender writes calls to the server under test.
//
// TrySend runs on the clock's thread, at every arrival: it must not
// block, and it must not take a lock another goroutine may hold — a
// goroutine the kernel descheduled while holding one would hold the
// clock up for a whole time slice (on a 2-vCPU VM running the server
// flat out, fires that took a channel's or a map's lock took 2–10 ms in
// 75 of 20,000 arrivals, and each made the arrivals after it late).
type Sender interface {
	// TrySend writes r's call if it can at once, or returns
	// ErrWouldBlock having written nothing.
	TrySend(r Request, d Done) error
	// Send writes r's call, waiting as long as it must, until ctx ends.
	Send(ctx context.Context, r Request, d Done) error
	// Abandon stops waiting for r's answer: d is then not called for it
	// (and an answer already on its way is dropped by its token).
	Abandon(r Request)
}

// Options configure [Run].
type Options struct {
	Profile Profile
	Mix     *Mix
	// MaxInFlight bounds the calls sent and not ended; an arrival that
	// finds it reached is dropped. Required.
	MaxInFlight int
	// Timeout ends a call that got no answer this long after its intended
	// time (class timeout). Required.
	Timeout time.Duration
	// Clock keeps the schedule; nil means wake.New().
	Clock wake.Clock
	// Bucket is the width of the series' windows; 0 picks one.
	Bucket time.Duration
	// Lead is how long after Run is called the schedule starts; 0 means
	// 20 ms.
	Lead time.Duration
}

func (o Options) validate() error {
	if err := o.Profile.Validate(); err != nil {
		return fmt.Errorf("bad rate profile: %w", err)
	}
	switch {
	case o.Mix == nil:
		return errors.New("no mix of calls")
	case o.MaxInFlight < 1:
		return fmt.Errorf("max in flight %d: must be ≥ 1", o.MaxInFlight)
	case o.Timeout <= 0:
		return fmt.Errorf("call timeout %v: must be > 0", o.Timeout)
	}
	return nil
}

// Run plays the profile against s and returns what it measured once every
// call it sent has ended (answered, timed out, or cut short by ctx).
func Run(ctx context.Context, o Options, s Sender) (*Stats, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = wake.New()
	}
	if o.Bucket <= 0 {
		o.Bucket = autoBucket(o.Profile.Duration())
	}
	if o.Lead <= 0 {
		o.Lead = 20 * time.Millisecond
	}
	g := &generator{o: o, s: s, ctx: ctx, slots: make([]slot, o.MaxInFlight), seqBase: rand.Uint64()}
	g.stats = newStats(o.Profile, o.Mix, o.MaxInFlight, o.Clock.Name(), o.Bucket)
	start := time.Now().Add(o.Lead)
	g.stats.Start = start
	offsets := o.Profile.Offsets()
	next := func() (time.Time, bool) {
		d, ok := offsets()
		return start.Add(d), ok
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var sweeper sync.WaitGroup
	sweeper.Add(1)
	go func() {
		defer sweeper.Done()
		g.sweep(sweepCtx)
	}()
	err := o.Clock.Run(ctx, next, g.fire)
	if ctx.Err() != nil {
		g.endAll(ClassCancelled, "the load run was stopped")
	}
	g.wg.Wait()
	stopSweep()
	sweeper.Wait()
	g.stats.Elapsed = time.Since(start)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return g.stats, fmt.Errorf("the load's clock failed: %w", err)
	}
	return g.stats, ctx.Err()
}

type generator struct {
	o        Options
	s        Sender
	ctx      context.Context
	stats    *Stats
	k        uint64 // next arrival index (clock thread only)
	cursor   int    // where the next free slot is looked for (clock thread only)
	inFlight atomic.Int64
	wg       sync.WaitGroup // calls not ended, and their send goroutines
	slots    []slot
	// seqBase starts this run's call numbers at a random point, so the
	// tokens of one sender's successive runs (a capacity search's trials)
	// do not repeat: a late answer from an earlier trial must not pass
	// for a call of this one.
	seqBase uint64
}

// slot is one call in flight. The clock's thread claims a free slot
// (state 0 → 1), fills it and writes the call; whoever ends the call
// first — its answer, the sweeper's timeout, a stop — wins the token
// (CompareAndSwap to 0), records it and frees the slot.
type slot struct {
	state    atomic.Int32
	token    atomic.Uint64 // the call's; 0 once it ended
	deadline atomic.Int64  // unix ns after which the sweeper times it out
	req      Request
	woke     time.Time
	// sentAt is when the write began, as ns since the run's start: set
	// after the token, so it is atomic.
	sentAt atomic.Int64
}

// fire handles one arrival on the clock's thread: count it, drop it when
// the bound is reached, else write it at once — or, when the transport
// cannot take it without waiting, hand it to a goroutine that does. It
// takes no lock and allocates nothing on the way to the write.
func (g *generator) fire(intended, woke time.Time) {
	k := g.k
	g.k++
	g.stats.offer(intended)
	entry := g.o.Mix.Pick(k)
	i, ok := g.claim()
	if !ok {
		g.stats.drop(intended, entry)
		return
	}
	sl := &g.slots[i]
	token := uint64(i)<<tokenSlotShift | (g.seqBase+k)%(1<<tokenSlotShift-1) + 1
	req := Request{Index: k, Entry: entry, Intended: intended, Token: token, Slot: i}
	sl.req, sl.woke = req, woke
	sl.deadline.Store(intended.Add(g.o.Timeout).UnixNano())
	g.wg.Add(1)
	sl.token.Store(token)
	sl.sentAt.Store(int64(time.Since(g.stats.Start)))
	err := g.s.TrySend(req, g)
	if err == nil {
		g.stats.markSent(intended, false)
		return
	}
	// Anything but a write at once goes to a goroutine: recording a
	// failure takes the stats' lock, which the clock's thread never does.
	g.wg.Add(1) // the goroutine's own: it may outlive the call
	if errors.Is(err, ErrWouldBlock) {
		go g.sendBlocking(req)
		return
	}
	go func() {
		defer g.wg.Done()
		g.stats.markSent(intended, false)
		g.end(token, Answer{Token: token, At: time.Now(), Class: ClassTransport, Detail: err.Error()})
	}()
}

// claim finds a free slot, or reports that MaxInFlight calls are out.
func (g *generator) claim() (int, bool) {
	if g.inFlight.Add(1) > int64(len(g.slots)) {
		g.inFlight.Add(-1)
		return 0, false
	}
	n := len(g.slots)
	for j := range n {
		i := (g.cursor + j) % n
		if g.slots[i].state.CompareAndSwap(0, 1) {
			g.cursor = (i + 1) % n
			return i, true
		}
	}
	// A call counted out but not yet freed its slot: count it dropped.
	g.inFlight.Add(-1)
	return 0, false
}

// sendBlocking writes a call the transport could not take at once; its
// lateness counts in the send lag. It owns req, a copy: the call's slot
// may be ended and reused while it still runs.
func (g *generator) sendBlocking(req Request) {
	defer g.wg.Done()
	ctx, cancel := context.WithDeadline(g.ctx, req.Intended.Add(g.o.Timeout))
	defer cancel()
	if sl := &g.slots[req.Slot]; sl.token.Load() == req.Token {
		sl.sentAt.Store(int64(time.Since(g.stats.Start)))
	}
	err := g.s.Send(ctx, req, g)
	g.stats.markSent(req.Intended, true)
	if err == nil {
		return
	}
	class := ClassTransport
	switch {
	case g.ctx.Err() != nil:
		class = ClassCancelled
	case ctx.Err() != nil:
		class = ClassTimeout
	}
	g.end(req.Token, Answer{Token: req.Token, At: time.Now(), Class: class, Detail: fmt.Sprintf("cannot write the call: %v", err)})
}

// Answered implements Done.
func (g *generator) Answered(a Answer) { g.end(a.Token, a) }

// end ends the call of token once: records it, frees its slot. An answer
// for a call already ended (timed out, abandoned) is dropped.
func (g *generator) end(token uint64, a Answer) {
	i := TokenSlot(token)
	if i >= len(g.slots) {
		return
	}
	sl := &g.slots[i]
	if !sl.token.CompareAndSwap(token, 0) {
		return
	}
	if a.Class == ClassTimeout || a.Class == ClassCancelled {
		// Written or still being written: the sender stops waiting (and
		// over HTTP closes the connection, which ends a blocked write).
		g.s.Abandon(sl.req)
	}
	g.stats.result(sl, a)
	sl.state.Store(0)
	g.inFlight.Add(-1)
	g.wg.Done()
}

// sweepEvery is how often the sweeper looks for calls past their timeout.
func (g *generator) sweepEvery() time.Duration {
	return min(max(g.o.Timeout/50, time.Millisecond), 50*time.Millisecond)
}

// sweep times out the calls past their deadline until ctx ends: one
// goroutine instead of a timer per call, which the clock's thread would
// have to arm.
func (g *generator) sweep(ctx context.Context) {
	t := time.NewTicker(g.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for i := range g.slots {
				sl := &g.slots[i]
				tok := sl.token.Load()
				if tok != 0 && now.UnixNano() > sl.deadline.Load() {
					g.end(tok, Answer{Token: tok, At: now, Class: ClassTimeout,
						Detail: fmt.Sprintf("no answer within %v of the call's intended time", g.o.Timeout)})
				}
			}
		}
	}
}

// endAll ends every call still out: the run was stopped.
func (g *generator) endAll(class, detail string) {
	for i := range g.slots {
		if tok := g.slots[i].token.Load(); tok != 0 {
			g.end(tok, Answer{Token: tok, At: time.Now(), Class: class, Detail: detail})
		}
	}
}
