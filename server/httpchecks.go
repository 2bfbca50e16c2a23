package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// sessionChecks applies, before mcp-go sees a request, what the
// streamable-HTTP transport requires and mcp-go does not do: a body cap
// (the stdio line cap: one message of either transport has the same
// bound), 400 for a request of a session-based protocol version without
// its Mcp-Session-Id header (mcp-go answers 404 as for an unknown id), and
// 404 for a DELETE of a session that is not live (mcp-go answers 200); and
// the bound on requests in flight (see [inFlightBound]).
func sessionChecks(ids *sessionIDs, maxBody int64, bound *inFlightBound, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					writeRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST,
						fmt.Sprintf("request body over %d bytes", maxBody))
					return
				}
				http.Error(w, "Bad Request: cannot read the body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			id, method := peekRequest(body)
			if method == string(mcp.MethodSubscriptionsListen) && len(id) > 0 {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(encodeError(id, mcp.METHOD_NOT_FOUND, errNoSubscriptions))
				return
			}
			// Only requests are bounded, as on stdio: a notification (a
			// cancel above all) or a response must get through to an
			// overloaded server. Refused before any more decoding.
			if len(id) > 0 && method != "" {
				release, limit, ok := bound.acquire(method)
				if !ok {
					writeBusy(w, rawOrNil(id, true), limit)
					return
				}
				defer release()
			}
			if r.Header.Get(mcpserver.HeaderKeySessionID) == "" && needsSession(r.Header, body) {
				writeRPCError(w, http.StatusBadRequest, mcp.INVALID_REQUEST,
					"Bad Request: the Mcp-Session-Id header is required (initialize first)")
				return
			}
		case http.MethodDelete:
			if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
				break // no sessions in this version: mcp-go answers
			}
			id := r.Header.Get(mcpserver.HeaderKeySessionID)
			if id == "" {
				http.Error(w, "Bad Request: the Mcp-Session-Id header is required", http.StatusBadRequest)
				return
			}
			if !ids.Live(id) {
				http.Error(w, "Not Found: no such session", http.StatusNotFound)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// needsSession reports whether a POST body is a request of a session-based
// protocol version other than initialize (a batch, or a body that does not
// decode, is left to mcp-go).
func needsSession(h http.Header, body []byte) bool {
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Meta *mcp.Meta `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method == "" || msg.Method == string(mcp.MethodInitialize) {
		return false
	}
	if mcp.IsModernProtocol(h.Get(mcp.HeaderProtocolVersion)) || mcp.IsModernProtocol(msg.Params.Meta.ProtocolVersion()) {
		return false // 2026-07-28 has no sessions
	}
	return true
}

// errNoSubscriptions answers subscriptions/listen. The server advertises
// no list-changed or resource-subscription capability, so a listen stream
// would never carry a notification; and mcp-go's acknowledgement travels
// through the session's notification channel, written by another goroutine
// than the result, so it could reach the client after the result or not
// before the stream closed (the conformance suite saw both under load).
const errNoSubscriptions = "subscriptions/listen: this server offers no notifications to subscribe to (no listChanged or resource subscriptions)"

// peekRequest reads a POST body's id and method; the method is empty for a
// body that is not one JSON-RPC object (a batch, not JSON) or whose method
// is not a string: mcp-go answers those.
func peekRequest(body []byte) (json.RawMessage, string) {
	msg, _ := decodeMessage(body) // what decodes despite an error is still the body's
	return msg.ID, msg.Method
}

// writeRPCError answers with a JSON-RPC error (null id) and an HTTP status.
func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(encodeError(nil, code, msg)) // the client went away: nothing to do
}

// writeBusy refuses a request over its bound.
func writeBusy(w http.ResponseWriter, id json.RawMessage, limit int) {
	w.Header().Set("Retry-After", strconv.Itoa(1))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(encodeError(id, codeServerBusy, busyMessage(limit))) // the client went away: nothing to do
}
