package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/scenarios/load"
)

// sessionMarker stands for the session_id in a call's encoded template;
// JSON writes it as \u0000sb-session\u0000, which no argument can contain.
const (
	sessionMarker        = "\x00sb-session\x00"
	sessionMarkerEncoded = `\u0000sb-session\u0000`
)

// callTemplate is one mix entry's request, encoded once: the JSON-RPC
// members after the id, with the session spliced in per call.
type callTemplate struct {
	tool      string
	pre, post string // around the session_id; post empty when none
	session   bool
}

func (t callTemplate) body(session string) string {
	if !t.session {
		return t.pre
	}
	return t.pre + session + t.post
}

// loadTemplates encodes every mix entry's call for protocol version: the
// arguments the scenario's own calls would get, with _meta carrying the
// version and capabilities where the protocol is stateless.
func (ru *run) loadTemplates(l *Load, version string) ([]callTemplate, error) {
	out := make([]callTemplate, 0, len(l.Mix))
	for _, m := range l.Mix {
		params := map[string]any{"name": m.Call.Tool, "arguments": ru.args(m.Call, sessionMarker)}
		if mcp.IsModernProtocol(version) {
			params["_meta"] = map[string]any{mcp.MetaKeyProtocolVersion: version, mcp.MetaKeyClientCapabilities: map[string]any{}}
		}
		b, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("cannot encode the load's call of %s: %w", m.Call.Tool, err)
		}
		enc := `"method":"tools/call","params":` + string(b)
		t := callTemplate{tool: m.Call.Tool, pre: enc}
		if pre, post, ok := strings.Cut(enc, sessionMarkerEncoded); ok {
			t = callTemplate{tool: m.Call.Tool, pre: pre, post: post, session: true}
		}
		out = append(out, t)
	}
	return out, nil
}

// loadSessions names the session of arrival k: one of n, or with churn a
// fresh one per call.
func loadSessions(name string, n int, churn bool) func(k uint64) string {
	return func(k uint64) string {
		if churn {
			return name + "-c" + strconv.FormatUint(k, 10)
		}
		return name + "-s" + strconv.FormatUint(k%uint64(n), 10)
	}
}

// stdioLoad sends a load's calls into the server's stdin through the
// heartbeat's pipe pinger: one host, one pipe, the calls interleaved with
// the heartbeat's probes and the scenario's own calls.
type stdioLoad struct {
	p         *pipePinger
	templates []callTemplate
	session   func(k uint64) string
}

var _ load.Sender = (*stdioLoad)(nil)

func (s *stdioLoad) frame(r load.Request) (id string, frame []byte) {
	id = loadIDPrefix + strconv.FormatUint(s.p.seq.Add(1), 10)
	t := s.templates[r.Entry]
	return id, []byte(`{"jsonrpc":"2.0","id":"` + id + `",` + t.body(s.session(r.Index)) + "}\n")
}

func (s *stdioLoad) register(id string, done func(load.Answer)) (abandon func()) {
	s.p.mu.Lock()
	s.p.pending[id] = func(at time.Time, a rpcAnswer) { done(a.loadAnswer(at)) }
	s.p.mu.Unlock()
	return func() {
		s.p.mu.Lock()
		delete(s.p.pending, id)
		s.p.mu.Unlock()
		_ = s.p.tryWrite([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"` + id + `","reason":"load call timed out"}}` + "\n"))
	}
}

func (s *stdioLoad) unregister(id string) {
	s.p.mu.Lock()
	delete(s.p.pending, id)
	s.p.mu.Unlock()
}

// TrySend implements load.Sender.
func (s *stdioLoad) TrySend(r load.Request, done func(load.Answer)) (func(), error) {
	id, frame := s.frame(r)
	abandon := s.register(id, done)
	if err := s.p.tryWrite(frame); err != nil {
		s.unregister(id)
		if errors.Is(err, probes.ErrWouldBlock) {
			return nil, load.ErrWouldBlock
		}
		return nil, err
	}
	return abandon, nil
}

// Send implements load.Sender: a frame the pipe could not take at once
// (a full pipe, a frame above PIPE_BUF, another writer mid-frame).
func (s *stdioLoad) Send(ctx context.Context, r load.Request, done func(load.Answer)) (func(), error) {
	id, frame := s.frame(r)
	abandon := s.register(id, done)
	if err := s.p.writeBlocking(ctx, frame); err != nil {
		s.unregister(id)
		return nil, err
	}
	return abandon, nil
}

// writeBlocking writes frame whole, waiting for the pipe, until ctx ends.
func (p *pipePinger) writeBlocking(ctx context.Context, frame []byte) error {
	p.frames.Lock()
	defer p.frames.Unlock()
	if d, ok := ctx.Deadline(); ok {
		if err := p.f.SetWriteDeadline(d); err == nil {
			defer p.f.SetWriteDeadline(time.Time{})
		}
	}
	if _, err := p.f.Write(frame); err != nil {
		return fmt.Errorf("cannot write a load call to the server's stdin: %w", err)
	}
	return nil
}

// loadAnswer classes an answer for the load's report.
func (a rpcAnswer) loadAnswer(at time.Time) load.Answer {
	switch {
	case a.code != 0:
		return load.Answer{At: at, Class: load.ClassRPC(a.code), Detail: a.message}
	case a.isError:
		return load.Answer{At: at, Class: load.ClassToolError, Detail: a.message}
	}
	return load.Answer{At: at}
}
