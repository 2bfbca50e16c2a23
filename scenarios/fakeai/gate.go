package fakeai

import "sync"

// gate counts in-flight handlers so Close can wait for them. Unlike a
// sync.WaitGroup it may be entered while Close is waiting: late arrivals
// are turned away instead of racing the Wait.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	closed bool
	n      int
}

// enter admits one handler; false once the gate is closed.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// closeAndWait turns new handlers away and waits for those inside.
func (g *gate) closeAndWait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	for g.n > 0 {
		g.cond.Wait()
	}
}
