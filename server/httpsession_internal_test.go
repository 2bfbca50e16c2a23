package server

import (
	"errors"
	"testing"
	"time"
)

func TestSessionIDs(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	m := newSessionIDs(2, time.Minute, clock)

	a := m.Generate()
	if _, err := m.Validate(a); err != nil {
		t.Fatalf("issued id refused: %v", err)
	}
	if _, err := m.Validate("mcp-session-00000000-0000-4000-8000-000000000000"); !errors.Is(err, errUnknownSession) {
		t.Errorf("a well-formed id never issued: err %v, want errUnknownSession", err)
	}
	if _, err := m.Validate(""); !errors.Is(err, errNoSession) {
		t.Errorf("empty id: err %v, want errNoSession", err)
	}

	// Terminated: reported as such, and no longer live.
	m.Terminate(a)
	if term, err := m.Validate(a); !term || err != nil {
		t.Errorf("terminated id: (%v, %v), want (true, nil)", term, err)
	}
	if m.Live(a) {
		t.Error("terminated id still live")
	}

	// The cap evicts the longest idle.
	b := m.Generate()
	now = now.Add(time.Second)
	c := m.Generate()
	now = now.Add(time.Second)
	if _, err := m.Validate(b); err != nil { // b is now the most recently used
		t.Fatal(err)
	}
	d := m.Generate()
	if m.Live(c) || !m.Live(b) || !m.Live(d) || m.Len() != 2 || m.evicted.Load() != 1 {
		t.Errorf("after the cap: live b=%v c=%v d=%v, len %d, evicted %d; want c evicted", m.Live(b), m.Live(c), m.Live(d), m.Len(), m.evicted.Load())
	}

	// Idle past the TTL: gone.
	now = now.Add(2 * time.Minute)
	if _, err := m.Validate(d); !errors.Is(err, errUnknownSession) || m.Len() != 0 || m.expired.Load() != 2 {
		t.Errorf("idle past ttl: err %v, len %d, expired %d", err, m.Len(), m.expired.Load())
	}
}

func TestSessionIDs_terminatedAreBounded(t *testing.T) {
	m := newSessionIDs(terminatedKept+10, time.Hour, nil)
	for range terminatedKept + 5 {
		m.Terminate(m.Generate())
	}
	if len(m.terminated) != terminatedKept || len(m.order) != terminatedKept {
		t.Errorf("remembered %d terminated ids, want at most %d", len(m.terminated), terminatedKept)
	}
}
