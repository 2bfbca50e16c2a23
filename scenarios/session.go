package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// NoopTool is the cheap tool the heartbeat calls.
const NoopTool = "list_models"

// Session is one MCP client connection to the server under test. It is safe
// for concurrent use: over stdio, the heartbeat's pings interleave with the
// scenario's calls on the same pipe, as a host's would.
type Session struct {
	c *client.Client
	// unwedge, over stdio, closes the server's stdin; see guard.
	unwedge func() bool
	// pinger, over stdio, writes the heartbeat's probes into the pipe from
	// the prober's own thread; nil over HTTP.
	pinger *pipePinger

	// stateless: the session speaks 2026-07-28 or later, where there
	// is no ping.
	stateless bool

	mu       sync.Mutex
	progress map[string][]time.Time // progress token → arrival times
}

// Protocol versions a Session speaks.
const (
	// ProtocolLegacy is the last version with the initialize handshake
	// and ping: mcp-go v1.2.1's client defaults to 2026-07-28, where its
	// Ping sends nothing at all, so the legacy version is pinned.
	ProtocolLegacy = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	// ProtocolStateless has no handshake and no ping: each request
	// carries its version and capabilities in _meta, and the heartbeat
	// probes with server/discover, the cheapest request it keeps.
	ProtocolStateless = mcp.ProtocolVersion20260728
)

// CheckProtocol tells whether a Session can speak version.
func CheckProtocol(version string) error {
	if version != ProtocolLegacy && version != ProtocolStateless {
		return fmt.Errorf("unknown MCP protocol version %q: want %s or %s", version, ProtocolLegacy, ProtocolStateless)
	}
	return nil
}

// newSession wraps a transport in an mcp-go client and opens the session
// at protocol version (ProtocolLegacy when empty): the initialize
// handshake, or server/discover for a stateless one.
func newSession(ctx context.Context, tr transport.Interface, version string) (*Session, error) {
	if version == "" {
		version = ProtocolLegacy
	}
	c := client.NewClient(tr, client.WithProtocolVersion(version))
	s := &Session{c: c, progress: map[string][]time.Time{}, stateless: mcp.IsModernProtocol(version)}
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("cannot start MCP client: %w", err)
	}
	// The client runs notification handlers on its read loop: record and
	// return, never block.
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != string(mcp.MethodNotificationProgress) {
			return
		}
		tok, ok := n.Params.AdditionalFields["progressToken"]
		if !ok {
			return
		}
		now := time.Now()
		s.mu.Lock()
		k := fmt.Sprint(tok)
		s.progress[k] = append(s.progress[k], now)
		s.mu.Unlock()
	})
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: "secondbrain-replay", Version: "1"}
	res, err := c.Initialize(ctx, req)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cannot open an MCP session at protocol %s: %w", version, err)
	}
	if res.ProtocolVersion != version {
		// mcp-go falls back to the handshake when server/discover fails;
		// a run asked for one version must not silently measure another.
		_ = c.Close()
		return nil, fmt.Errorf("cannot open an MCP session at protocol %s: the server agreed to %s", version, res.ProtocolVersion)
	}
	return s, nil
}

// wedgeGrace is how long a request may stay unreturned after its ctx ended
// before the session concludes it is stuck writing into the server's stdin.
const wedgeGrace = 2 * time.Second

// errWedged marks a request that failed because the session closed the
// server's stdin to end a wedge.
var errWedged = errors.New("the server stopped reading its stdin: the request could not even be written (the runner closed the pipe to end the wedge)")

// guard watches one request over stdio. mcp-go's client writes a request
// under its transport's lock and only then waits on ctx; a write into a pipe
// the server no longer reads (its read loop is stuck, e.g. logging into a
// full stderr) blocks forever, ignoring ctx, and every later request queues
// behind the lock. If the request has not returned wedgeGrace after its ctx
// ended, the session closes the server's stdin, which fails the blocked
// write and everything queued behind it. done must be called when the
// request returns; it reports whether the session unwedged this one.
func (s *Session) guard(ctx context.Context) (done func(err error) error) {
	if s.unwedge == nil {
		return func(err error) error { return err }
	}
	returned := make(chan struct{})
	var wedged atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(wedgeGrace)
		defer t.Stop()
		select {
		case <-returned:
		case <-t.C:
			if s.unwedge() {
				wedged.Store(true)
			}
		}
	})
	return func(err error) error {
		close(returned)
		stop()
		if err != nil && wedged.Load() {
			return fmt.Errorf("%w: %v", errWedged, err)
		}
		return err
	}
}

// Ping sends the protocol's cheapest request and waits for the answer: a
// ping, or server/discover where ping no longer exists.
func (s *Session) Ping(ctx context.Context) error {
	done := s.guard(ctx)
	if s.stateless {
		_, err := s.c.Discover(ctx, mcp.DiscoverRequest{})
		return done(err)
	}
	return done(s.c.Ping(ctx))
}

// Noop calls the cheap tool and waits for its result.
func (s *Session) Noop(ctx context.Context) error {
	req := mcp.CallToolRequest{}
	req.Params.Name = NoopTool
	done := s.guard(ctx)
	res, err := s.c.CallTool(ctx, req)
	if err = done(err); err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("%s returned a tool error: %s", NoopTool, resultText(res))
	}
	return nil
}

// CallTool calls a tool; a non-empty progressToken asks for progress, a
// non-empty traceParent goes in _meta.traceparent (W3C Trace Context).
func (s *Session) CallTool(ctx context.Context, name string, args map[string]any, progressToken, traceParent string) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	if progressToken != "" || traceParent != "" {
		req.Params.Meta = &mcp.Meta{}
		if progressToken != "" {
			req.Params.Meta.ProgressToken = progressToken
		}
		if traceParent != "" {
			req.Params.Meta.AdditionalFields = map[string]any{"traceparent": traceParent}
		}
	}
	done := s.guard(ctx)
	res, err := s.c.CallTool(ctx, req)
	return res, done(err)
}

// Progress returns when the notifications for token arrived.
func (s *Session) Progress(token string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.progress[token]...)
}

// Close closes the connection (over stdio: the server's stdin).
func (s *Session) Close() error { return s.c.Close() }

func resultText(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			return t.Text
		}
	}
	return ""
}
