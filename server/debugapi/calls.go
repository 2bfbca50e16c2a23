package debugapi

import "time"

// Call describes one tool call.
type Call struct {
	Seq       uint64    `json:"seq"`
	Transport string    `json:"transport"`            // "stdio" or "http"
	RequestID string    `json:"request_id,omitempty"` // raw JSON-RPC id when the transport knows it
	Tool      string    `json:"tool"`
	Start     time.Time `json:"start"`
	// DurationMS is the elapsed time so far for a call in flight.
	DurationMS float64 `json:"duration_ms"`
	Outcome    string  `json:"outcome,omitempty"` // empty while in flight
	// CancelReceivedAt is when the cancel reached the server (stdio: when the
	// notifications/cancelled line was read; HTTP: when the request context ended).
	CancelReceivedAt  *time.Time `json:"cancel_received_at,omitempty"`
	HandlerReturnedAt *time.Time `json:"handler_returned_at,omitempty"`
	// CancelToReturnMS is HandlerReturnedAt - CancelReceivedAt: how long the
	// handler kept running after it was told to stop.
	CancelToReturnMS *float64 `json:"cancel_to_return_ms,omitempty"`
	// ResponseSuppressed is true when the transport wrote no response because
	// the call was cancelled (the MCP spec forbids answering a cancelled request).
	ResponseSuppressed bool `json:"response_suppressed,omitempty"`
}

// Calls is /debug/calls: the tool calls in flight and the last finished
// ones (newest first), and the server's counters. Now is the server's
// clock when it answered.
type Calls struct {
	Now                 time.Time `json:"now"`
	InFlight            []Call    `json:"in_flight"`
	Recent              []Call    `json:"recent"` // newest first
	Started             uint64    `json:"started"`
	SuppressedResponses uint64    `json:"suppressed_responses"`
}
