package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
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

// sessionNames names each arrival's session and its MCP session (over
// HTTP at 2025-11-25), writing into a buffer rather than allocating a
// string per call. Arrival k goes to session k mod n; with every > 0 a
// session carries that many calls and then a fresh one takes its place
// (every = 1: a fresh session per call). A session's conversation grows
// with each call it carries, and so does what the server sends upstream
// for it: a long run on a few sessions measures ever longer calls.
type sessionNames struct {
	name  string
	n     uint64
	every uint64
	round uint64 // a capacity search's trial: each starts fresh sessions
	mcp   int    // MCP sessions the calls are spread over (≥ 1)
}

func newSessionNames(name string, n, every, mcpSessions int) *sessionNames {
	return &sessionNames{name: name, n: uint64(max(n, 1)), every: uint64(max(every, 0)), mcp: max(mcpSessions, 1)}
}

// parts are the numbers of arrival k's session name: its index, its
// generation (renewals so far) and whether the name carries one.
func (s *sessionNames) parts(k uint64) (j, gen uint64, renewed bool) {
	j = k % s.n
	if s.every == 0 {
		return j, 0, false
	}
	return j, (k / s.n) / s.every, true
}

func (s *sessionNames) append(buf []byte, k uint64) []byte {
	j, gen, renewed := s.parts(k)
	buf = append(buf, s.name...)
	if s.round > 0 {
		buf = append(buf, "-t"...)
		buf = strconv.AppendUint(buf, s.round, 10)
	}
	buf = append(buf, "-s"...)
	buf = strconv.AppendUint(buf, j, 10)
	if renewed {
		buf = append(buf, "-g"...)
		buf = strconv.AppendUint(buf, gen, 10)
	}
	return buf
}

func (s *sessionNames) mcpIndex(k uint64) int { return int(k % uint64(s.mcp)) }

// appendCall writes r's JSON-RPC request, with id prefix+token.
func appendCall(buf []byte, prefix string, r load.Request, t callTemplate, sessions *sessionNames) []byte {
	buf = append(buf, `{"jsonrpc":"2.0","id":"`...)
	buf = append(buf, prefix...)
	buf = strconv.AppendUint(buf, r.Token, 10)
	buf = append(buf, `",`...)
	buf = append(buf, t.pre...)
	if t.session {
		buf = sessions.append(buf, r.Index)
		buf = append(buf, t.post...)
	}
	return append(buf, '}')
}

// stdioLoad sends a load's calls into the server's stdin through the
// heartbeat's pipe pinger: one host, one pipe, the calls interleaved with
// the heartbeat's probes and the scenario's own calls. Each call in flight
// has a slot of its own (by Request.Slot), so neither the clock's thread
// nor the pinger's reader takes a lock to match an answer to its call.
type stdioLoad struct {
	p         *pipePinger
	templates []callTemplate
	sessions  *sessionNames
	calls     []stdioCall
	// guard ends a write wedged in a pipe the server stopped reading
	// (Session.guard); nil: none.
	guard func(ctx context.Context) func(error) error
	// done is the run's load.Done (a doneHolder), swapped only between
	// runs: an answer matched by token may arrive after its slot was
	// reused, and must still reach a Done.
	done atomic.Value
}

type doneHolder struct{ d load.Done }

type stdioCall struct {
	token atomic.Uint64 // the call's; 0 when none is waiting
	buf   []byte
}

var _ load.Sender = (*stdioLoad)(nil)

// newStdioLoad routes the pinger's answers to ld- ids to the load until
// stop is called.
func newStdioLoad(p *pipePinger, templates []callTemplate, sessions *sessionNames, slots int,
	guard func(ctx context.Context) func(error) error) (s *stdioLoad, stop func()) {
	s = &stdioLoad{p: p, templates: templates, sessions: sessions, calls: make([]stdioCall, slots), guard: guard}
	p.load.Store(s)
	return s, func() { p.load.CompareAndSwap(s, nil) }
}

func (s *stdioLoad) prepare(r load.Request, d load.Done) []byte {
	if cur, _ := s.done.Load().(doneHolder); cur.d != d {
		s.done.Store(doneHolder{d}) // once per run
	}
	c := &s.calls[r.Slot]
	c.buf = append(appendCall(c.buf[:0], loadIDPrefix, r, s.templates[r.Entry], s.sessions), '\n')
	c.token.Store(r.Token)
	return c.buf
}

// TrySend implements load.Sender.
func (s *stdioLoad) TrySend(r load.Request, d load.Done) error {
	frame := s.prepare(r, d)
	if err := s.p.tryWrite(frame); err != nil {
		s.calls[r.Slot].token.CompareAndSwap(r.Token, 0)
		if errors.Is(err, probes.ErrWouldBlock) {
			return load.ErrWouldBlock
		}
		return err
	}
	return nil
}

// Send implements load.Sender: a frame the pipe could not take at once
// (a full pipe, a frame above PIPE_BUF, another writer mid-frame). The
// frame is written whole — half a frame would glue the next one onto it
// and corrupt the session — so ctx cannot cut the write short; a write
// still blocked a while after ctx ended is ended by the session's guard,
// which closes the server's stdin (the server stopped reading it).
func (s *stdioLoad) Send(ctx context.Context, r load.Request, d load.Done) error {
	frame := s.prepare(r, d)
	written := func(err error) error { return err }
	if s.guard != nil {
		written = s.guard(ctx)
	}
	if err := written(s.p.writeBlocking(frame)); err != nil {
		s.calls[r.Slot].token.CompareAndSwap(r.Token, 0)
		return err
	}
	return nil
}

// Abandon implements load.Sender: the server is told, as a host would,
// without waiting for the pipe.
func (s *stdioLoad) Abandon(r load.Request) {
	if !s.calls[r.Slot].token.CompareAndSwap(r.Token, 0) {
		return
	}
	id := loadIDPrefix + strconv.FormatUint(r.Token, 10)
	_ = s.p.tryWrite([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"` + id + `","reason":"load call timed out"}}` + "\n"))
}

// answer delivers the answer to the load call id (its token in decimal
// after the prefix); an answer to a call given up on is dropped.
func (s *stdioLoad) answer(id string, at time.Time, a rpcAnswer) {
	token, err := strconv.ParseUint(id[len(loadIDPrefix):], 10, 64)
	if err != nil {
		return
	}
	slot := load.TokenSlot(token)
	if slot >= len(s.calls) {
		return
	}
	c := &s.calls[slot]
	if !c.token.CompareAndSwap(token, 0) {
		return
	}
	h, _ := s.done.Load().(doneHolder)
	if h.d == nil {
		return
	}
	la := a.loadAnswer(at)
	la.Token = token
	h.d.Answered(la)
}

// writeBlocking writes frame whole, waiting for the pipe and for the
// frame writer's lock.
func (p *pipePinger) writeBlocking(frame []byte) error {
	p.frames.Lock()
	defer p.frames.Unlock()
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
