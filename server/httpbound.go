package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
)

// inFlightBound bounds the POSTed requests an HTTP server runs at once, by
// kind, as the stdio transport bounds its own: tools/call apart from the
// rest, so pings and tool lists are never refused because calls fill the
// server. Past a bound a request is refused at once (503, Retry-After and
// a JSON-RPC error with its id) rather than queued: a server that fell
// behind otherwise kept taking requests — a race-instrumented build under
// the harness's heartbeat held 1,100 of them and answered pings in 7 s.
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

// writeBusy refuses a request over its bound.
func writeBusy(w http.ResponseWriter, id json.RawMessage, limit int) {
	w.Header().Set("Retry-After", strconv.Itoa(1))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(encodeError(id, codeServerBusy, busyMessage(limit))) // the client went away: nothing to do
}
