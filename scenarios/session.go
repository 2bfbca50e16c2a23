package scenarios

import (
	"context"
	"fmt"
	"sync"
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

	mu       sync.Mutex
	progress map[string][]time.Time // progress token → arrival times
}

// newSession wraps a transport in an mcp-go client and initializes it. The
// protocol is pinned to the last legacy version: with mcp-go v1.2.1's
// default (2026-07-28) Ping sends nothing at all.
func newSession(ctx context.Context, tr transport.Interface) (*Session, error) {
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	s := &Session{c: c, progress: map[string][]time.Time{}}
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
	req.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "secondbrain-replay", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cannot initialize MCP session: %w", err)
	}
	return s, nil
}

// Ping sends an MCP ping and waits for the answer.
func (s *Session) Ping(ctx context.Context) error { return s.c.Ping(ctx) }

// Noop calls the cheap tool and waits for its result.
func (s *Session) Noop(ctx context.Context) error {
	req := mcp.CallToolRequest{}
	req.Params.Name = NoopTool
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("%s returned a tool error: %s", NoopTool, resultText(res))
	}
	return nil
}

// CallTool calls a tool; a non-empty progressToken asks for progress.
func (s *Session) CallTool(ctx context.Context, name string, args map[string]any, progressToken string) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	if progressToken != "" {
		req.Params.Meta = &mcp.Meta{ProgressToken: progressToken}
	}
	return s.c.CallTool(ctx, req)
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
