package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the HTTP session bounds (HTTPOptions).
const (
	DefaultMaxSessions    = 1000
	DefaultSessionIdleTTL = 30 * time.Minute
	// terminatedKept bounds the ids remembered as terminated (so that a
	// DELETEd id answers 404, not "unknown"); older ones are forgotten and
	// answer 404 as unknown ids do.
	terminatedKept = 4096
)

var (
	errNoSession      = errors.New("no session id")
	errUnknownSession = errors.New("session not issued by this server, expired or evicted")
)

// sessionIDs is the MCP HTTP transport's session id manager (mcp-go's
// SessionIdManager): it accepts only ids it issued and that are still
// live, expires a session idle for ttl, keeps at most max (evicting the
// longest idle), and remembers terminated ids. mcp-go's default checks an
// id's format only: a never-issued id ran tools, and a DELETEd one still
// answered.
type sessionIDs struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu         sync.Mutex
	live       map[string]time.Time // id → last use
	terminated map[string]bool
	order      []string // terminated ids, oldest first

	evicted atomic.Int64 // sessions dropped for the cap
	expired atomic.Int64 // sessions dropped for idling past ttl
}

func newSessionIDs(max int, ttl time.Duration, now func() time.Time) *sessionIDs {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	if ttl <= 0 {
		ttl = DefaultSessionIdleTTL
	}
	if now == nil {
		now = time.Now
	}
	return &sessionIDs{ttl: ttl, max: max, now: now, live: map[string]time.Time{}, terminated: map[string]bool{}}
}

// Generate issues a new id, making room under the cap first.
func (m *sessionIDs) Generate() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id := "mcp-session-" + hex.EncodeToString(b[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expireLocked(now)
	for len(m.live) >= m.max {
		m.evictIdlestLocked()
	}
	m.live[id] = now
	return id
}

// Validate accepts a live id (and marks it used); a terminated one is
// reported as such; anything else is an error (mcp-go answers 404).
func (m *sessionIDs) Validate(id string) (terminated bool, err error) {
	if id == "" {
		return false, errNoSession
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.expireLocked(now)
	if m.terminated[id] {
		return true, nil
	}
	if _, ok := m.live[id]; !ok {
		return false, fmt.Errorf("session %.64q: %w", id, errUnknownSession)
	}
	m.live[id] = now
	return false, nil
}

// Terminate ends a live session. The transport's DELETE handler answers
// 404 itself for an id that is not live (see [sessionIDs.Live]).
func (m *sessionIDs) Terminate(id string) (notAllowed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[id]; ok {
		delete(m.live, id)
		m.rememberTerminatedLocked(id)
	}
	return false, nil
}

// Live reports whether id is an issued session that has not ended.
func (m *sessionIDs) Live(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(m.now())
	_, ok := m.live[id]
	return ok
}

// Len is the number of live sessions.
func (m *sessionIDs) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}

func (m *sessionIDs) expireLocked(now time.Time) {
	for id, last := range m.live {
		if now.Sub(last) > m.ttl {
			delete(m.live, id)
			m.expired.Add(1)
		}
	}
}

func (m *sessionIDs) evictIdlestLocked() {
	var idlest string
	var at time.Time
	for id, last := range m.live {
		if idlest == "" || last.Before(at) {
			idlest, at = id, last
		}
	}
	delete(m.live, idlest)
	m.evicted.Add(1)
}

func (m *sessionIDs) rememberTerminatedLocked(id string) {
	m.terminated[id] = true
	m.order = append(m.order, id)
	if len(m.order) > terminatedKept {
		delete(m.terminated, m.order[0])
		m.order = m.order[1:]
	}
}
