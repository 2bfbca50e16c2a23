package provider

import (
	"context"
	"net/http"

	"github.com/openai/openai-go/v3/option"
)

// TraceParentHeader is the W3C Trace Context request header.
const TraceParentHeader = "traceparent"

type traceParentKey struct{}

// WithTraceParent returns ctx carrying a caller's W3C traceparent; provider
// requests made with the context send it on (see [TraceMiddleware]). An
// invalid value is ignored.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	if !ValidTraceParent(tp) {
		return ctx
	}
	return context.WithValue(ctx, traceParentKey{}, tp)
}

// TraceParent returns the traceparent ctx carries, or "".
func TraceParent(ctx context.Context) string {
	tp, _ := ctx.Value(traceParentKey{}).(string)
	return tp
}

// TraceMiddleware is an openai-go middleware that sends the request
// context's traceparent, so a provider's (or a test double's) records of
// each request can be joined to the MCP call that caused it. The value is
// passed on unchanged: the server keeps no spans of its own.
func TraceMiddleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	if tp := TraceParent(req.Context()); tp != "" {
		req.Header.Set(TraceParentHeader, tp)
	}
	return next(req)
}

// ValidTraceParent reports whether s is a version-00 W3C traceparent:
// "00-" 32 lowercase hex digits (the trace id, not all zero) "-" 16 (the
// parent id, not all zero) "-" 2 (flags).
func ValidTraceParent(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	return lowerHex(s[3:35]) && lowerHex(s[36:52]) && lowerHex(s[53:55]) &&
		!allZero(s[3:35]) && !allZero(s[36:52])
}

// TraceID is the trace id of a valid traceparent, else "".
func TraceID(tp string) string {
	if !ValidTraceParent(tp) {
		return ""
	}
	return tp[3:35]
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
