package server

import (
	"context"
	"encoding/json"
)

// ModelCallHook is called by a tool handler before each model request, on
// the request's goroutine, with the call's context; end is called once
// the request is over. An error fails the call with it. The server works
// without one; the serve command sets one only to inject a fault on
// purpose (package faults).
type ModelCallHook interface {
	BeginModelCall(ctx context.Context) (end func(), err error)
}

// DispatchHook is called by the stdio read loop for each tools/call, once
// the call's handler is ready to run as run and before it starts; params
// are the request's params as received. It reports whether it took run
// over (it then runs it, or has it run, exactly once). It runs on the read
// loop: while it does, nothing else is read. The server works without one;
// the serve command sets one only to inject a fault on purpose (package
// faults).
type DispatchHook interface {
	Dispatch(ctx context.Context, params json.RawMessage, run func()) (taken bool)
}
