package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
)

// ErrWouldBlock is what [Sender.TrySend] returns when it cannot write a
// call without waiting.
var ErrWouldBlock = errors.New("load: the call cannot be written without waiting")

// Request is one arrival: which entry of the mix it calls and when it was
// due.
type Request struct {
	Index    uint64
	Entry    int
	Intended time.Time
}

// Answer is how a call ended, as the sender saw it.
type Answer struct {
	At     time.Time // when the answer arrived
	Class  string    // "" when the call succeeded; else an error class
	Detail string    // the error's message, for the report
}

// Sender writes calls to the server under test.
type Sender interface {
	// TrySend writes r's call if it can do so at once, without blocking,
	// and arranges for done to be called once, from another goroutine,
	// with the answer. The returned abandon makes the sender stop waiting
	// for the answer (done is then not called). It returns ErrWouldBlock
	// having written nothing when it would have to wait. TrySend runs on
	// the clock's thread: it must never block.
	TrySend(r Request, done func(Answer)) (abandon func(), err error)
	// Send writes r's call, waiting as long as it must, until ctx ends.
	Send(ctx context.Context, r Request, done func(Answer)) (abandon func(), err error)
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
	g := &generator{o: o, s: s, ctx: ctx, live: map[*call]struct{}{}}
	g.stats = newStats(o.Profile, o.Mix, o.MaxInFlight, o.Clock.Name(), o.Bucket)
	start := time.Now().Add(o.Lead)
	g.stats.Start = start
	offsets := o.Profile.Offsets()
	next := func() (time.Time, bool) {
		d, ok := offsets()
		return start.Add(d), ok
	}
	err := o.Clock.Run(ctx, next, g.fire)
	if ctx.Err() != nil {
		g.abandonAll()
	}
	g.wg.Wait()
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
	inFlight atomic.Int64
	wg       sync.WaitGroup

	liveMu sync.Mutex
	live   map[*call]struct{}
}

// fire handles one arrival on the clock's thread: count it, drop it when
// the bound is reached, else write it at once — or, when the transport
// cannot take it without waiting, hand it to a goroutine that does.
func (g *generator) fire(intended, woke time.Time) {
	k := g.k
	g.k++
	g.stats.offer(intended)
	req := Request{Index: k, Entry: g.o.Mix.Pick(k), Intended: intended}
	if g.inFlight.Add(1) > int64(g.o.MaxInFlight) {
		g.inFlight.Add(-1)
		g.stats.drop(intended, req.Entry)
		return
	}
	c := &call{g: g, req: req, woke: woke}
	g.wg.Add(1)
	g.track(c, true)
	c.sentAt = time.Now()
	abandon, err := g.s.TrySend(req, c.answered)
	switch {
	case errors.Is(err, ErrWouldBlock):
		g.wg.Add(1) // the goroutine's own: it may outlive the call
		go func() {
			defer g.wg.Done()
			c.sendBlocking()
		}()
		return
	case err != nil:
		g.stats.markSent(intended, false)
		c.finish(Answer{At: time.Now(), Class: ClassTransport, Detail: err.Error()})
		return
	}
	g.stats.markSent(intended, false)
	c.sent(abandon)
}

func (g *generator) track(c *call, add bool) {
	g.liveMu.Lock()
	if add {
		g.live[c] = struct{}{}
	} else {
		delete(g.live, c)
	}
	g.liveMu.Unlock()
}

// abandonAll ends every call still out: the run was stopped.
func (g *generator) abandonAll() {
	g.liveMu.Lock()
	calls := make([]*call, 0, len(g.live))
	for c := range g.live {
		calls = append(calls, c)
	}
	g.liveMu.Unlock()
	for _, c := range calls {
		c.finish(Answer{At: time.Now(), Class: ClassCancelled, Detail: "the load run was stopped"})
	}
}

// call is one arrival that was sent (or is being sent), until it ends.
type call struct {
	g       *generator
	req     Request
	woke    time.Time
	sentAt  time.Time
	timer   atomic.Pointer[time.Timer]
	abandon atomic.Pointer[func()]
	done    atomic.Bool
}

func (c *call) answered(a Answer) { c.finish(a) }

// sent arms the call's timeout once it is written.
func (c *call) sent(abandon func()) {
	if abandon != nil {
		c.abandon.Store(&abandon)
	}
	deadline := c.req.Intended.Add(c.g.o.Timeout)
	c.timer.Store(time.AfterFunc(time.Until(deadline), func() {
		c.finish(Answer{At: time.Now(), Class: ClassTimeout,
			Detail: fmt.Sprintf("no answer within %v of the call's intended time", c.g.o.Timeout)})
	}))
	if c.done.Load() {
		c.release()
	}
}

// sendBlocking writes a call the transport could not take at once; its
// lateness counts in the send lag.
func (c *call) sendBlocking() {
	g := c.g
	ctx, cancel := context.WithDeadline(g.ctx, c.req.Intended.Add(g.o.Timeout))
	defer cancel()
	c.sentAt = time.Now()
	abandon, err := g.s.Send(ctx, c.req, c.answered)
	g.stats.markSent(c.req.Intended, true)
	if err != nil {
		class := ClassTransport
		if ctx.Err() != nil {
			class = ClassTimeout
		}
		c.finish(Answer{At: time.Now(), Class: class, Detail: fmt.Sprintf("cannot write the call: %v", err)})
		return
	}
	c.sent(abandon)
}

// finish ends the call once: records it, frees its slot.
func (c *call) finish(a Answer) {
	if !c.done.CompareAndSwap(false, true) {
		return
	}
	c.release()
	if a.Class == ClassTimeout || a.Class == ClassCancelled {
		if f := c.abandon.Load(); f != nil {
			(*f)()
		}
	}
	g := c.g
	g.track(c, false)
	g.stats.result(c, a)
	g.inFlight.Add(-1)
	g.wg.Done()
}

func (c *call) release() {
	if t := c.timer.Load(); t != nil {
		t.Stop()
	}
}
