// Package fakehttp holds what the harness's fake HTTP services share: a JSON
// duration type for their fault models, a gate that lets Close wait for
// in-flight handlers, and lock-free named counters for /_stats.
package fakehttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("340s", "1m30s"). A bare JSON number is read as seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts "1m30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("cannot parse duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("cannot parse duration %s: want a string like \"4m\" or seconds", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Patch applies a JSON object to v, a pointer to a struct: keys present
// replace v's fields, keys left out keep them. Keys named in control are
// skipped (the caller reads those itself, e.g. "reset"); any other key v
// does not have, at any depth, is an error — a misspelt fault must be
// refused, not silently ignored while the scenario runs unfaulted.
func Patch(body []byte, v any, control ...string) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return fmt.Errorf("cannot parse a JSON object: %w", err)
	}
	for _, k := range control {
		delete(obj, k)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("cannot re-encode the object: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Gate counts in-flight handlers so Close can wait for them. Unlike a
// sync.WaitGroup it may be entered while Close is waiting: late arrivals
// are turned away instead of racing the Wait. The zero value is open.
type Gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	closed bool
	n      int
}

// Enter admits one handler; false once the gate is closed.
func (g *Gate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

// Leave marks one admitted handler as done.
func (g *Gate) Leave() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// CloseAndWait turns new handlers away and waits for those inside.
func (g *Gate) CloseAndWait() {
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

// Counters is a fixed set of named counters, made once and then read and
// added to without a lock. Adding to a name it was not made with panics:
// that is a bug in the fake, not bad input.
type Counters map[string]*atomic.Int64

// NewCounters makes one zero counter per key.
func NewCounters(keys ...string) Counters {
	c := make(Counters, len(keys))
	for _, k := range keys {
		c[k] = new(atomic.Int64)
	}
	return c
}

// Add adds n to the counter named k.
func (c Counters) Add(k string, n int64) { c[k].Add(n) }

// Load returns the counter named k.
func (c Counters) Load(k string) int64 { return c[k].Load() }

// Snapshot returns every counter's value, with room for extra more keys
// (the fakes add their gauges).
func (c Counters) Snapshot(extra int) map[string]int64 {
	out := make(map[string]int64, len(c)+extra)
	for k, v := range c {
		out[k] = v.Load()
	}
	return out
}
