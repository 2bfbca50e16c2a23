package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// Defaults for [Stdio].
const (
	DefaultMaxLineBytes     = 8 << 20 // a JSON-RPC line longer than this is refused
	DefaultMaxInFlightCalls = 256     // concurrent tools/call requests
	DefaultMaxInFlightOther = 1024    // concurrent other requests (ping, tools/list, …)
	// DefaultFlushTimeout bounds how long shutdown waits for a client to
	// read stdout: well inside serve's 10 s shutdown deadline.
	DefaultFlushTimeout = 2 * time.Second
	// notificationBuffer is the session's notification channel size; mcp-go
	// drops a notification when it is full, so it is generous.
	notificationBuffer = 1024
)

// JSON-RPC error codes used by the stdio loop itself.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeServerBusy     = -32000
)

// errShutdown is the cancel cause of calls stopped because the server stops.
var errShutdown = errors.New("server shutting down")

// Stdio serves one MCP client over newline-delimited JSON-RPC (stdin/stdout).
//
// It replaces mcp-go's StdioServer and keeps its MCPServer.HandleMessage as
// the protocol core, because mcp-go's loop has traps that reproduce the
// original server's "cancel does nothing" symptom: a tool call runs on the read loop
// when its worker queue is full (head-of-line blocking of ping and of
// notifications/cancelled), a cancel for a queued call is lost, a cancelled
// call still gets a response, ids 1 and "1" collide, and its session is a
// package global.
//
// Here one reader goroutine reads lines; each request runs on its own
// goroutine (tools/call and everything else have separate bounds, so a ping
// never waits behind calls; over the bound the request is refused at once
// with -32000); notifications/cancelled is handled on the reader goroutine
// itself by cancelling the context of the request whose raw JSON id matches
// exactly; no response is written for a cancelled request; and one writer
// goroutine owns the output, writing the notifications a handler sent before
// that handler's response.
//
// Create with [NewStdio]; zero fields of StdioOptions mean the defaults.
type Stdio struct {
	mcp   *mcpserver.MCPServer
	opt   StdioOptions
	calls *Calls
	log   *slog.Logger

	dropped   atomic.Uint64 // responses suppressed because the request was cancelled
	refused   atomic.Uint64 // requests refused because a bound was reached
	malformed atomic.Uint64 // lines that were not valid JSON-RPC
	unwritten atomic.Uint64 // responses and notifications never written: stdout broken or unread at shutdown
}

// StdioOptions configures [Stdio].
type StdioOptions struct {
	MaxLineBytes     int // 0: DefaultMaxLineBytes
	MaxInFlightCalls int // 0: DefaultMaxInFlightCalls
	MaxInFlightOther int // 0: DefaultMaxInFlightOther
	// FlushTimeout is how long shutdown waits for a client to read what
	// is still queued for stdout (0: DefaultFlushTimeout).
	FlushTimeout time.Duration

	// Dispatch, when set, is called on the read loop for each tools/call
	// (see [DispatchHook]); nil: none.
	Dispatch DispatchHook
}

// StdioStats counts what the loop refused or suppressed.
type StdioStats struct {
	SuppressedResponses uint64 `json:"suppressed_responses"`
	Refused             uint64 `json:"refused"`
	Malformed           uint64 `json:"malformed"`
	// Unwritten counts messages the loop could not write: stdout failed,
	// or the client had stopped reading it when the server shut down.
	Unwritten uint64 `json:"unwritten"`
}

// NewStdio returns a stdio transport for s. calls (may be nil) receives
// cancel timestamps and suppressed-response counts; log may be nil.
func NewStdio(s *mcpserver.MCPServer, opt StdioOptions, calls *Calls, log *slog.Logger) *Stdio {
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	if opt.MaxInFlightCalls <= 0 {
		opt.MaxInFlightCalls = DefaultMaxInFlightCalls
	}
	if opt.MaxInFlightOther <= 0 {
		opt.MaxInFlightOther = DefaultMaxInFlightOther
	}
	if opt.FlushTimeout <= 0 {
		opt.FlushTimeout = DefaultFlushTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Stdio{mcp: s, opt: opt, calls: calls, log: log.With("component", "stdio")}
}

// Stats returns the loop's counters.
func (t *Stdio) Stats() StdioStats {
	return StdioStats{SuppressedResponses: t.dropped.Load(), Refused: t.refused.Load(), Malformed: t.malformed.Load(),
		Unwritten: t.unwritten.Load()}
}

// inflight is one request being handled.
type inflight struct {
	cancel    context.CancelCauseFunc
	cancelAt  *atomic.Int64 // when notifications/cancelled was read
	cancelled bool          // set under conn.mu by notifications/cancelled
	isCall    bool
}

type conn struct {
	t       *Stdio
	session *stdioSession
	out     chan []byte // responses, in completion order

	mu       sync.Mutex
	inflight map[string]*inflight // by compact raw JSON id

	bound    *inFlightBound
	handlers sync.WaitGroup

	// dispatchMu is held by the reader while it dispatches a line;
	// shutdown takes it to set stopped, after which nothing is dispatched
	// (and handlers.Wait cannot race a new handler's Add).
	dispatchMu sync.Mutex
	stopped    bool

	// outMu is held by whoever writes to stdout: the writer, or the reader
	// answering a ping inline (direct, when stdout is a pipe).
	outMu  sync.Mutex
	direct *pipeFD
	// queued counts responses handed to the writer and not yet written: an
	// inline answer waits its turn behind them, so a client sees the
	// answers to its requests in the order it sent them.
	queued atomic.Int64
	// giveUp is closed when shutdown stops waiting for stdout: enqueue
	// then drops (and counts) instead of waiting for room.
	giveUp chan struct{}
}

// Serve reads requests from in and writes responses to out until in reaches
// EOF or ctx ends. Then it cancels the calls still running, waits for them,
// flushes what they wrote, and returns (nil on EOF, ctx's error otherwise).
// It closes neither in nor out.
//
// Shutdown never waits on a client that stopped reading out: output still
// unwritten after FlushTimeout is dropped and counted (Stats.Unwritten).
// The reader blocks in in.Read and the writer in out.Write; when Serve must
// stop them it interrupts them — a pipe always (Serve reads and writes an
// *os.File open on a pipe through its descriptor, in non-blocking mode),
// anything else that takes deadlines by an immediate one — and waits for
// them; one that cannot be interrupted is left to end with its file. (A
// read of a pipe is woken by a newline written into it, which whoever
// reads in after Serve may find.)
func (t *Stdio) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	session := newStdioSession("stdio-"+randomID(), notificationBuffer)
	if err := t.mcp.RegisterSession(ctx, session); err != nil {
		return fmt.Errorf("cannot register stdio session: %w", err)
	}
	defer t.mcp.UnregisterSession(context.WithoutCancel(ctx), session.id)

	// A pipe is read and written through its descriptor (pipeIn, pipeFD):
	// fewer hand-offs per line, and shutdown can interrupt either end.
	src, dst := in, out
	if p := newPipeIn(in); p != nil {
		src = p
	}
	direct := newPipeFD(out)
	if direct != nil {
		dst = direct
		defer direct.Close() // after the writer is done: shutdown waits for it
	}
	c := &conn{
		t:        t,
		session:  session,
		out:      make(chan []byte, 4096),
		inflight: make(map[string]*inflight),
		bound:    newInFlightBound(t.opt.MaxInFlightCalls, t.opt.MaxInFlightOther, &t.refused),
		giveUp:   make(chan struct{}),
		direct:   direct,
	}

	// Requests run on reqCtx: it ends on shutdown, not when a single call is cancelled.
	reqCtx, stopRequests := context.WithCancelCause(t.mcp.WithContext(context.WithoutCancel(ctx), session))
	defer stopRequests(errShutdown)

	writerDone := make(chan struct{})
	stopWriter := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(dst, stopWriter)
	}()

	// The reader dispatches each line itself: a ping is answered on the
	// goroutine that read it, with one hand-off (to the writer). dispatch
	// never waits on a handler.
	deliver := func(l line) bool {
		c.dispatchMu.Lock()
		defer c.dispatchMu.Unlock()
		if c.stopped {
			return false
		}
		c.dispatch(ctx, reqCtx, l)
		return true
	}
	readErr := make(chan error, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		readErr <- c.readLoop(src, deliver)
	}()

	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-readerDone:
		if rerr := <-readErr; rerr != nil && !errors.Is(rerr, io.EOF) {
			err = fmt.Errorf("cannot read stdin: %w", rerr)
		}
	}

	c.shutdown(stopRequests, stopWriter, writerDone, dst)
	if err != nil && !interrupt(src, readerDone) {
		return err // the reader ends with in
	}
	<-readerDone
	return err
}

// shutdown dispatches no more, stops the calls, waits for them, flushes
// their output and stops the writer — waiting at most FlushTimeout for a
// client that does not read: then the rest is dropped and counted.
func (c *conn) shutdown(stopRequests context.CancelCauseFunc, stopWriter, writerDone chan struct{}, out io.Writer) {
	c.dispatchMu.Lock()
	c.stopped = true
	c.dispatchMu.Unlock()
	stopRequests(errShutdown)
	flushBy := time.NewTimer(c.t.opt.FlushTimeout)
	defer flushBy.Stop()
	handlersDone := make(chan struct{})
	go func() { c.handlers.Wait(); close(handlersDone) }()
	select {
	case <-handlersDone:
	case <-flushBy.C:
		close(c.giveUp) // handlers blocked on a full queue drop their answers
		<-handlersDone
	}
	close(stopWriter)
	select {
	case <-writerDone:
		return
	case <-flushBy.C:
	}
	c.t.log.Warn("stdout not read: dropping the output still queued", "after", c.t.opt.FlushTimeout)
	if !interrupt(out, writerDone) {
		return // the writer ends with out
	}
	<-writerDone
}

// interrupt ends a blocked Read or Write on f by an immediate deadline and
// reports whether it could (f takes deadlines); done is closed when the
// goroutine in it has returned.
func interrupt(f any, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	if i, ok := f.(interface{ Interrupt() bool }); ok {
		return i.Interrupt()
	}
	d, ok := f.(interface{ SetDeadline(time.Time) error })
	return ok && d.SetDeadline(time.Now()) == nil
}

// maxKeptPrefix is how much of an over-long line is kept to recover its id.
const maxKeptPrefix = 64 << 10

// line is one input line; an over-long one keeps only its first bytes.
type line struct {
	data    []byte // the line without its newline, or the kept prefix when tooLong
	tooLong bool
}

// readLoop hands each line of in (without its newline) to deliver, until
// deliver reports false (shutdown) or in ends. A line longer than
// MaxLineBytes is delivered with tooLong set and only its first
// maxKeptPrefix bytes (enough to find an "id" written before the params),
// and skipped up to the next newline, so the stream resyncs.
func (c *conn) readLoop(in io.Reader, deliver func(line) bool) error {
	r := bufio.NewReaderSize(in, 64<<10)
	limit := c.t.opt.MaxLineBytes
	var buf []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 && !tooLong {
			if len(buf)+len(chunk) > limit+1 { // +1: the newline does not count
				tooLong = true
				if len(buf) < maxKeptPrefix {
					buf = append(buf, chunk[:min(len(chunk), maxKeptPrefix-len(buf))]...)
				}
				buf = append([]byte(nil), buf[:min(len(buf), maxKeptPrefix)]...) // drop the big backing array
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil || (errors.Is(err, io.EOF) && (len(buf) > 0 || tooLong)) {
			var l line
			if tooLong {
				l = line{data: buf, tooLong: true}
				buf = nil
			} else {
				trimmed := bytes.TrimSpace(buf)
				if len(trimmed) == 0 {
					buf = buf[:0]
					if err != nil {
						return err
					}
					continue
				}
				l = line{data: append([]byte(nil), trimmed...)}
				buf = buf[:0]
			}
			tooLong = false
			if !deliver(l) {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// dispatch handles one line on the reader's side: it never blocks on a handler.
func (c *conn) dispatch(ctx, reqCtx context.Context, l line) {
	msg, ok := c.decode(l)
	if !ok {
		return
	}
	hasID := len(msg.ID) > 0
	if msg.Method == "" {
		if msg.Result != nil || msg.Error != nil {
			return // a response to a server→client request; this server sends none that wait
		}
		c.t.malformed.Add(1)
		c.enqueueError(rawOrNil(msg.ID, hasID), codeInvalidRequest, "missing method")
		return
	}
	if !hasID {
		c.notification(reqCtx, msg.Method, msg.Params, l.data)
		return
	}
	key, ok := idKey(msg.ID)
	if !ok {
		c.t.malformed.Add(1)
		c.enqueueError(nil, codeInvalidRequest, "id must be a string or a number")
		return
	}
	if msg.Method == string(mcp.MethodPing) && !declaresProtocol(msg.Params) {
		// A ping is answered here, with the client's raw id, and goes
		// straight to the writer: no goroutine of its own and no trip
		// through mcp-go. Each hand-off waits for a free P, and while a
		// context query keeps both of a 2-vCPU machine's Ps busy that wait
		// was most of a ping's p99.
		c.answerNow(encodePong(msg.ID))
		return
	}
	if msg.Method == string(mcp.MethodSubscriptionsListen) {
		c.enqueueError(msg.ID, mcp.METHOD_NOT_FOUND, errNoSubscriptions)
		return
	}
	if answeredInline(msg.Method) {
		if resp := c.handle(reqCtx, msg.ID, l.data); resp != nil {
			c.answerNow(resp)
		}
		return
	}
	c.start(ctx, reqCtx, msg, key, l.data)
}

// answeredInline tells the requests served on the reader goroutine, like a
// ping: mcp-go answers them from memory, without waiting on anything (the
// discovery document, the tool list; a ping of the stateless era, which is
// an error), so a host probing with them takes the ping's path — where ping
// no longer exists, server/discover is the heartbeat's probe.
func answeredInline(method string) bool {
	switch mcp.MCPMethod(method) {
	case mcp.MethodServerDiscover, mcp.MethodToolsList, mcp.MethodPing:
		return true
	}
	return false
}

// declaresProtocol reports whether params carry a protocol version in
// their _meta. Such a request belongs to the stateless era (2026-07-28 and
// later), where ping no longer exists: mcp-go answers it, with -32601 for a
// removed method. A legacy ping carries no version and is answered inline.
func declaresProtocol(params json.RawMessage) bool {
	return len(params) > 0 && bytes.Contains(params, []byte(mcp.MetaKeyProtocolVersion))
}

// message is one decoded JSON-RPC line.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// decode reads a line as one JSON-RPC message; a line that is not one is
// counted, answered with the error that says why (with the request's own
// id when it can be told), and ok is false.
func (c *conn) decode(l line) (msg message, ok bool) {
	fail := func(id json.RawMessage, code int, text string) (message, bool) {
		c.t.malformed.Add(1)
		c.enqueueError(id, code, text)
		return message{}, false
	}
	line := l.data
	switch {
	case l.tooLong:
		// Answer with the request's own id when it can be told from the
		// first bytes: a host waiting on that id would otherwise hang until
		// its own timeout.
		id := leadingID(line)
		c.t.log.Warn("request too large; skipped", "max_bytes", c.t.opt.MaxLineBytes, "request_id", logID(id))
		return fail(id, codeInvalidRequest, fmt.Sprintf("request too large: the line exceeds %d bytes; skipped", c.t.opt.MaxLineBytes))
	case line[0] == '[':
		return fail(nil, codeInvalidRequest, "JSON-RPC batches are not supported")
	case line[0] != '{' && json.Valid(line):
		return fail(nil, codeInvalidRequest, "invalid request: a JSON-RPC message is a JSON object")
	case line[0] != '{':
		return fail(nil, codeParseError, "parse error: the line is not JSON")
	}
	msg, err := decodeMessage(line)
	if err != nil {
		code, text := decodeError(err)
		return fail(nil, code, text)
	}
	if bytes.Equal(msg.ID, []byte("null")) {
		// A request needs an id to be answered; a notification has none.
		// Treating null as "none" would leave the client waiting forever.
		return fail(nil, codeInvalidRequest, "invalid request: id must not be null (a request has a string or number id; a notification has no id member)")
	}
	return msg, true
}

// start runs a request on a goroutine of its own (or through the dispatch
// hook), within its kind's bound of requests in flight; over the bound, or
// with an id already in flight, it is refused at once.
func (c *conn) start(ctx, reqCtx context.Context, msg message, key string, line []byte) {
	isCall := msg.Method == string(mcp.MethodToolsCall)
	release, limit, ok := c.bound.acquire(msg.Method)
	if !ok {
		c.enqueueError(msg.ID, codeServerBusy, busyMessage(limit))
		return
	}
	hctx, cancel := context.WithCancelCause(reqCtx)
	c.mu.Lock()
	if _, dup := c.inflight[key]; dup {
		c.mu.Unlock()
		cancel(nil)
		release()
		c.enqueueError(msg.ID, codeInvalidRequest, "a request with id "+key+" is already in flight")
		return
	}
	fl := &inflight{cancel: cancel, isCall: isCall, cancelAt: new(atomic.Int64)}
	c.inflight[key] = fl
	c.mu.Unlock()
	if isCall {
		hctx = withCallMeta(hctx, callMeta{transport: "stdio", requestID: key, cancelAt: fl.cancelAt})
	}
	c.handlers.Add(1)
	run := func() {
		defer c.handlers.Done()
		defer release()
		resp := c.handle(hctx, msg.ID, line)
		cancel(nil)
		c.finish(ctx, key, resp)
	}
	if isCall && c.t.opt.Dispatch != nil && c.t.opt.Dispatch.Dispatch(ctx, msg.Params, run) {
		return
	}
	go run()
}

// finish ends the request key: its answer goes out unless the client
// cancelled it (then it is suppressed and counted).
func (c *conn) finish(ctx context.Context, key string, resp []byte) {
	c.mu.Lock()
	fl := c.inflight[key]
	delete(c.inflight, key)
	c.mu.Unlock()
	if fl != nil && fl.cancelled {
		c.t.dropped.Add(1)
		if c.t.calls != nil {
			c.t.calls.suppressedResponse(key)
		}
		return
	}
	if resp != nil {
		c.enqueue(ctx, resp)
	}
}

// handle runs the mcp-go core, recovering a panicking handler, and returns the
// encoded response with the request's id exactly as the client sent it.
func (c *conn) handle(ctx context.Context, id json.RawMessage, line []byte) (out []byte) {
	defer func() {
		if r := recover(); r != nil {
			c.t.log.Error("request handler panicked", "panic", fmt.Sprint(r), "request_id", logID(id))
			out = encodeError(id, -32603, fmt.Sprintf("internal error: %v", r))
		}
	}()
	resp := c.t.mcp.HandleMessage(ctx, line)
	if resp == nil {
		return nil
	}
	b, err := encodeResponse(tidyError(resp), id)
	if err != nil {
		return encodeError(id, -32603, "cannot encode response: "+err.Error())
	}
	return b
}

// notification handles a message without id. notifications/cancelled is
// served here, on the reader goroutine, so it can never wait behind a call.
func (c *conn) notification(reqCtx context.Context, method string, params, line []byte) {
	if method != string(mcp.MethodNotificationCancelled) {
		// Other client notifications (initialized, roots changed…) are cheap
		// bookkeeping in mcp-go; run them inline to keep their order.
		c.t.mcp.HandleMessage(reqCtx, line)
		return
	}
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
		Reason    string          `json:"reason"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	key, ok := idKey(p.RequestID)
	if !ok {
		return
	}
	now := time.Now()
	c.mu.Lock()
	fl := c.inflight[key]
	if fl != nil {
		fl.cancelled = true
		fl.cancelAt.Store(now.UnixNano())
	}
	c.mu.Unlock()
	if fl == nil {
		return // finished already, or never existed: the spec says ignore
	}
	c.t.log.Info("request cancelled by client", "request_id", logID(json.RawMessage(key)), "reason", p.Reason)
	fl.cancel(context.Canceled)
}

func (c *conn) enqueueError(id json.RawMessage, code int, msg string) {
	c.answerNow(encodeError(id, code, msg))
}

// enqueue hands a response to the writer. It blocks only when 4096 responses
// are waiting because the client stopped reading stdout, until there is
// room, ctx ends or shutdown gives up on stdout; a response not handed over
// is counted as unwritten.
func (c *conn) enqueue(ctx context.Context, b []byte) {
	c.queued.Add(1)
	select {
	case c.out <- b: // room: never dropped for an ended ctx
		return
	default:
	}
	select {
	case c.out <- b:
	case <-ctx.Done():
		c.drop()
	case <-c.giveUp:
		c.drop()
	}
}

func (c *conn) drop() {
	c.queued.Add(-1)
	c.t.unwritten.Add(1)
}

// answerNow is how the reader answers (pings, errors, the requests it
// serves inline): it writes a short response itself when the writer is
// idle with nothing waiting and stdout (a pipe) has room; else it hands it
// to the writer. It never waits on output: the writer holds outMu while it
// writes, and a write waits as long as the host does not read stdout —
// a reader waiting with it would stop reading stdin, so no cancel, no EOF
// and no signal of shutdown would be seen. When 4096 answers already wait
// for such a host, this one is dropped and counted as unwritten.
func (c *conn) answerNow(b []byte) {
	if c.outMu.TryLock() {
		written := c.queued.Load() == 0 && len(c.session.notifications) == 0 &&
			c.direct.tryWrite(append(b, '\n'))
		c.outMu.Unlock()
		if written {
			return
		}
	}
	c.queued.Add(1)
	select {
	case c.out <- b:
	default:
		c.drop()
	}
}

// writeLoop owns out (sharing it with answerNow under outMu). Before each response it writes every notification
// already sent, so a call's progress and log notifications precede its result.
func (c *conn) writeLoop(out io.Writer, stop <-chan struct{}) {
	w := bufio.NewWriterSize(out, 64<<10)
	broken := false
	write := func(b []byte) {
		if broken {
			c.t.unwritten.Add(1)
			return
		}
		c.outMu.Lock()
		defer c.outMu.Unlock()
		if _, err := w.Write(b); err == nil {
			_ = w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil { // flush per message: the client waits for it
			broken = true
			c.t.unwritten.Add(1)
			c.t.log.Error("cannot write to stdout; discarding further output", "err", err)
		}
	}
	writeNotification := func(n mcp.JSONRPCNotification) {
		b, err := json.Marshal(n)
		if err != nil {
			c.t.log.Error("cannot encode notification", "err", err, "method", n.Method)
			return
		}
		write(b)
	}
	drainNotifications := func() {
		for {
			select {
			case n := <-c.session.notifications:
				writeNotification(n)
			default:
				return
			}
		}
	}
	for {
		select {
		case n := <-c.session.notifications:
			writeNotification(n)
		case b := <-c.out:
			drainNotifications()
			write(b)
			c.queued.Add(-1)
		case <-stop:
			for {
				drainNotifications()
				select {
				case b := <-c.out:
					write(b)
					c.queued.Add(-1)
				default:
					return
				}
			}
		}
	}
}

// idKey returns the canonical form of a JSON-RPC id: compact JSON, so 1 and
// "1" stay different keys while whitespace does not matter.
func idKey(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	// Ids are on every request's path: the usual ones (a number, a plain
	// ASCII string) are their own canonical form and need no decoding.
	switch {
	case raw[0] == '"' && plainASCIIString(raw):
		return string(raw), true
	case raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9':
		// A valid token starting so is a number, and json.Number keeps
		// its text as written.
		if !json.Valid(raw) {
			return "", false
		}
		return string(raw), true
	}
	return idKeyDecoded(raw)
}

// idKeyDecoded is idKey by decoding the id and encoding it again.
func idKeyDecoded(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		b, _ := json.Marshal(s)
		return string(b), true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// plainASCIIString reports whether raw is a JSON string of printable ASCII
// that json.Marshal writes back unchanged: no escapes, no characters it
// escapes for HTML.
func plainASCIIString(raw []byte) bool {
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func rawOrNil(raw json.RawMessage, ok bool) json.RawMessage {
	if !ok {
		return nil
	}
	if _, valid := idKey(raw); !valid {
		return nil
	}
	return raw
}

func encodeError(id json.RawMessage, code int, msg string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg}})
	return b
}

// encodePong is the answer to a ping: an empty result.
func encodePong(id json.RawMessage) []byte {
	b := make([]byte, 0, len(id)+40)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	return append(b, `,"result":{}}`...)
}

// encodeResponse encodes a response once, with the raw id the client sent
// (mcp-go decodes ids into float64, which loses large integers).
func encodeResponse(resp mcp.JSONRPCMessage, id json.RawMessage) ([]byte, error) {
	switch r := resp.(type) {
	case *mcp.JSONRPCResponse:
		return encodeResponse(*r, id)
	case *mcp.JSONRPCError:
		return encodeResponse(*r, id)
	case mcp.JSONRPCResponse:
		return json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  any             `json:"result"`
		}{"2.0", id, r.Result})
	case mcp.JSONRPCError:
		return json.Marshal(struct {
			JSONRPC string                  `json:"jsonrpc"`
			ID      json.RawMessage         `json:"id"`
			Error   mcp.JSONRPCErrorDetails `json:"error"`
		}{"2.0", id, r.Error})
	}
	return nil, fmt.Errorf("unexpected response type %T", resp)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
