package server

import (
	"fmt"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
)

// inFlightBound bounds the requests a transport runs at once, by kind:
// tools/call apart from the rest, so pings and tool lists are never
// refused because calls fill the server. Past a bound a request is
// refused at once (JSON-RPC -32000; over HTTP also 503 and Retry-After)
// rather than queued: an HTTP server that fell behind otherwise kept
// taking requests — a race-instrumented build under the harness's
// heartbeat held 1,100 of them and answered pings in 7 s. The stdio loop
// bounds each connection with one, an HTTP handler all its requests.
type inFlightBound struct {
	calls, other chan struct{}
	refused      *atomic.Uint64
}

func newInFlightBound(calls, other int, refused *atomic.Uint64) *inFlightBound {
	if calls <= 0 {
		calls = DefaultMaxInFlightCalls
	}
	if other <= 0 {
		other = DefaultMaxInFlightOther
	}
	return &inFlightBound{calls: make(chan struct{}, calls), other: make(chan struct{}, other), refused: refused}
}

// acquire takes a slot for a request of method; ok is false (and the
// refusal counted) when its kind's bound is reached. release returns the
// slot.
func (b *inFlightBound) acquire(method string) (release func(), limit int, ok bool) {
	sem := b.other
	if method == string(mcp.MethodToolsCall) {
		sem = b.calls
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, cap(sem), true
	default:
		b.refused.Add(1)
		return nil, cap(sem), false
	}
}

// busyMessage is the error text of a request refused by a bound, on
// either transport.
func busyMessage(limit int) string {
	return fmt.Sprintf("server busy: %d requests of this kind in flight; retry later", limit)
}
