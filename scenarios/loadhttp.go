package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/sys/unix"

	"github.com/secondbrain-dev/secondbrain/scenarios/load"
)

// httpLoad sends a load's calls over HTTP/1.1 connections of its own, one
// call at a time on each, written by hand so that the clock's thread can
// write a request with one non-blocking write(2) the moment it wakes (an
// http.Client would hand each request to goroutines first). A reader
// goroutine per connection parses the answer (JSON or an SSE stream) and
// frees the connection. The clock's thread takes no lock: it claims an
// idle connection with one compare-and-swap on its state.
type httpLoad struct {
	addr string // host:port
	head []string
	// headers[e][j] ends the request head of entry e in session j.
	headers   [][]string
	templates []callTemplate
	sessions  *sessionNames

	conns    []*loadConn
	cursor   atomic.Uint64
	retried  atomic.Int64               // calls written again on a fresh connection (retryStale)
	slotConn []atomic.Pointer[loadConn] // by Request.Slot: the call's connection
	freed    chan struct{}              // a connection came free (for Send)
	stop     chan struct{}
	wg       sync.WaitGroup
}

var _ load.Sender = (*httpLoad)(nil)

// dialTimeout bounds every connection the load opens.
const dialTimeout = 5 * time.Second

// Connection states beyond a live call's token (tokens stay below 2^60).
const (
	connIdle      = 0
	connPreparing = 1 << 60 // claimed by a sender, token not yet set
	connAbandoned = 1 << 61 // OR'ed onto a token given up on
	connOwned     = 1 << 62 // its reader is redialling it
)

// newHTTPLoad opens n connections to rawURL; slots is the run's bound on
// calls in flight.
func newHTTPLoad(ctx context.Context, rawURL string, n, slots int, templates []callTemplate, sessions *sessionNames,
	headers func(entry, session int) string) (*httpLoad, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("cannot load %q: want an http:// URL", rawURL)
	}
	h := &httpLoad{addr: u.Host, templates: templates, sessions: sessions,
		slotConn: make([]atomic.Pointer[loadConn], slots), freed: make(chan struct{}, 1), stop: make(chan struct{})}
	for e := range templates {
		var row []string
		for j := range sessions.mcp {
			row = append(row, "POST "+u.RequestURI()+" HTTP/1.1\r\nHost: "+u.Host+
				"\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+headers(e, j))
		}
		h.headers = append(h.headers, row)
	}
	for range n {
		c := &loadConn{h: h}
		c.writeFn = c.writeNow
		if err := c.dial(ctx); err != nil {
			h.Close()
			return nil, err
		}
		h.conns = append(h.conns, c)
		h.wg.Add(1)
		go c.readLoop()
	}
	return h, nil
}

// Close closes every connection and waits for the readers.
func (h *httpLoad) Close() {
	close(h.stop)
	for _, c := range h.conns {
		if rc := c.rc.Load(); rc != nil {
			rc.conn.Close()
		}
	}
	h.wg.Wait()
}

// claim takes an idle connection, or nil.
func (h *httpLoad) claim() *loadConn {
	n := uint64(len(h.conns))
	start := h.cursor.Add(1)
	for j := range n {
		c := h.conns[(start+j)%n]
		if c.state.CompareAndSwap(connIdle, connPreparing) {
			return c
		}
	}
	return nil
}

// TrySend implements load.Sender: an idle connection and one write.
func (h *httpLoad) TrySend(r load.Request, d load.Done) error {
	c := h.claim()
	if c == nil {
		return load.ErrWouldBlock
	}
	return c.send(r, d, true)
}

// Send implements load.Sender: waits for an idle connection.
func (h *httpLoad) Send(ctx context.Context, r load.Request, d load.Done) error {
	for {
		if c := h.claim(); c != nil {
			h.notifyFree() // pass the signal on: another waiter may find a connection too
			return c.send(r, d, false)
		}
		select {
		case <-h.freed:
		case <-ctx.Done():
			return fmt.Errorf("no connection came free: %w", ctx.Err())
		}
	}
}

// Abandon implements load.Sender: the call's connection is closed, and
// its reader redials it.
func (h *httpLoad) Abandon(r load.Request) {
	c := h.slotConn[r.Slot].Load()
	if c == nil {
		return
	}
	rc := c.rc.Load() // the call's: loaded before the CAS, as a redial after it would carry the next call
	if !c.state.CompareAndSwap(r.Token, r.Token|connAbandoned) {
		return
	}
	if rc != nil {
		rc.conn.Close()
	}
}

// appendRequest writes r's request into buf, its body first into body
// (both buffers the connection's own, reused call after call): the
// Content-Length is then the body's length, not a second reckoning of it.
func (h *httpLoad) appendRequest(buf, body []byte, r load.Request) (req, bodyOut []byte) {
	t := h.templates[r.Entry]
	body = appendCall(body, loadIDPrefix, r, t, h.sessions)
	buf = append(buf, h.headers[r.Entry][h.sessions.mcpIndex(r.Index)]...)
	buf = append(buf, "Content-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...), body
}

// loadConn is one connection and the call on it.
type loadConn struct {
	h *httpLoad
	// state is connIdle, connPreparing, the call's token (with
	// connAbandoned once given up on) or connOwned.
	state atomic.Uint64
	rc    atomic.Pointer[rawConn]
	read  atomic.Int64 // bytes read since the last request was written
	// idleSince is when the connection last came free (unix ns).
	idleSince atomic.Int64
	// tail is set while a goroutine writes the end of a request the
	// socket did not take at once: the connection is not reused then.
	tail atomic.Bool
	// Set by the claimant before the token is stored, read by the reader
	// after it loads the token.
	done    load.Done
	buf     []byte        // the request
	body    []byte        // its body, as appendRequest builds it
	idleFor time.Duration // how long the connection sat idle before this call
	// writeNow's result; writeFn is writeNow bound once.
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
}

type rawConn struct {
	conn *net.TCPConn
	raw  syscall.RawConn
	br   *bufio.Reader
}

func (c *loadConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, "tcp", c.h.addr)
	if err != nil {
		return fmt.Errorf("cannot connect to %s for the load: %w", c.h.addr, err)
	}
	tc := nc.(*net.TCPConn)
	raw, err := tc.SyscallConn()
	if err != nil {
		tc.Close()
		return fmt.Errorf("cannot reach the socket of %s: %w", c.h.addr, err)
	}
	c.rc.Store(&rawConn{conn: tc, raw: raw, br: bufio.NewReaderSize(countingReader{r: tc, n: &c.read}, 16<<10)})
	c.idleSince.Store(time.Now().UnixNano())
	// Close closes stop before it closes the connections it finds: a
	// connection stored after that is closed here, so no reader stays
	// blocked on one.
	select {
	case <-c.h.stop:
		tc.Close()
	default:
	}
	return nil
}

func (c *loadConn) writeNow(fd uintptr) bool {
	c.wn, c.werr = unix.Write(int(fd), c.buf)
	return true
}

// send writes r on c, which the caller claimed (connPreparing): at once
// (a non-blocking write; what the socket does not take is written by a
// goroutine), or, from Send, waiting.
func (c *loadConn) send(r load.Request, d load.Done, now bool) error {
	c.buf, c.body = c.h.appendRequest(c.buf[:0], c.body[:0], r)
	c.done = d
	c.idleFor = time.Duration(time.Now().UnixNano() - c.idleSince.Load())
	c.read.Store(0)
	c.h.slotConn[r.Slot].Store(c)
	c.state.Store(r.Token)
	rc := c.rc.Load()
	if !now {
		if _, err := rc.conn.Write(c.buf); err != nil {
			rc.conn.Close() // the reader answers the call as a transport error
		}
		return nil
	}
	c.wn, c.werr = 0, nil
	if err := rc.raw.Write(c.writeFn); err != nil || (c.werr != nil && !errors.Is(c.werr, unix.EAGAIN)) {
		rc.conn.Close() // the reader answers the call as a transport error
		return nil
	}
	if n := max(c.wn, 0); n < len(c.buf) {
		rest := append([]byte(nil), c.buf[n:]...) // c.buf is the next call's once c is free
		c.tail.Store(true)
		c.h.wg.Add(1)
		go func() {
			defer c.h.wg.Done()
			defer c.tail.Store(false)
			if _, err := rc.conn.Write(rest); err != nil {
				rc.conn.Close()
			}
		}()
	}
	return nil
}

// countingReader counts what the connection gave the response parser.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// readLoop reads whatever the connection gives: the answer to its call,
// or, idle, the server closing it (then redialled).
func (c *loadConn) readLoop() {
	defer c.h.wg.Done()
	for {
		if c.stopped() {
			return
		}
		a, broken := readAnswer(c.rc.Load().br)
		if c.stopped() {
			return
		}
		s := c.state.Load()
		for s == connPreparing { // a sender is filling the request in
			runtime.Gosched()
			s = c.state.Load()
		}
		switch {
		case s == connIdle, s&connAbandoned != 0:
			c.renew(s)
		default:
			c.deliver(s, a, broken)
		}
	}
}

// deliver hands the answer of the call token to its Done and frees c.
func (c *loadConn) deliver(token uint64, a load.Answer, broken bool) {
	a, broken = c.retryStale(a, broken)
	if broken || c.tail.Load() {
		// A request still being written (the server answered before it
		// read it all) would run into the next one: a fresh connection.
		c.redial()
	}
	d := c.done
	c.idleSince.Store(time.Now().UnixNano())
	if !c.state.CompareAndSwap(token, connIdle) {
		c.renew(token | connAbandoned) // abandoned meanwhile: its socket may have been closed too
		return
	}
	c.notifyFree()
	a.Token = token
	d.Answered(a)
}

// retryStale writes a call once more on a fresh connection when the
// server had closed the one it went out on while it sat idle: a server
// closes idle keep-alive connections after its idle timeout, and one that
// does so just as a request is written answers it with nothing — that
// request never reached a handler. Only a connection idle for at least
// staleIdleMin before the write qualifies (no server's idle timeout is
// shorter; a connection under load is reused far sooner), so a handler
// that died on a busy connection is reported, not retried. The retry is
// counted, and the call's latency still counts from its intended time.
func (c *loadConn) retryStale(a load.Answer, broken bool) (load.Answer, bool) {
	if !broken || a.Class != load.ClassTransport || c.read.Load() != 0 || c.idleFor < staleIdleMin {
		return a, broken
	}
	if err := c.redialErr(); err != nil {
		a.Detail += "; " + err.Error()
		return a, true
	}
	c.h.retried.Add(1)
	c.read.Store(0)
	rc := c.rc.Load()
	if _, err := rc.conn.Write(c.buf); err != nil {
		return load.Answer{At: time.Now(), Class: load.ClassTransport, Detail: fmt.Sprintf("cannot write a load call again on a fresh connection: %v", err)}, true
	}
	return readAnswer(rc.br)
}

// staleIdleMin is how long a connection must have sat idle for a call
// failed on it with nothing read to be written again (retryStale).
const staleIdleMin = time.Second

// Retried is how many calls were written again on a fresh connection
// because the server had closed the idle one they went out on.
func (h *httpLoad) Retried() int64 { return h.retried.Load() }

func (c *loadConn) stopped() bool {
	select {
	case <-c.h.stop:
		return true
	default:
		return false
	}
}

func (c *loadConn) redial() { _ = c.redialErr() }

// redialErr replaces the connection; on failure the old (closed) one
// stays, and the next call on it fails as a transport error.
func (c *loadConn) redialErr() error {
	if rc := c.rc.Load(); rc != nil {
		rc.conn.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	err := c.dial(ctx)
	if err != nil {
		// A server that is gone refuses at once: without a pause every
		// reader would spin on connect(2) and starve the clock's thread.
		select {
		case <-c.h.stop:
		case <-time.After(redialBackoff):
		}
	}
	return err
}

// redialBackoff is how long a reader waits after a connection it could
// not open before its connection is used (and fails) again.
const redialBackoff = 100 * time.Millisecond

// renew gives c a fresh connection and frees it, if c is still in state
// s (idle, or a call given up on): its reader then owns it meanwhile.
func (c *loadConn) renew(s uint64) {
	if c.state.CompareAndSwap(s, connOwned) {
		c.redial()
		c.free()
	}
}

func (c *loadConn) free() {
	c.idleSince.Store(time.Now().UnixNano())
	c.state.Store(connIdle)
	c.notifyFree()
}

func (c *loadConn) notifyFree() { c.h.notifyFree() }

func (h *httpLoad) notifyFree() {
	select {
	case h.freed <- struct{}{}:
	default:
	}
}

// readAnswer reads one HTTP response and makes a load answer of it;
// broken says the connection cannot carry another request.
func readAnswer(br *bufio.Reader) (load.Answer, bool) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return load.Answer{At: time.Now(), Class: load.ClassTransport, Detail: fmt.Sprintf("cannot read the answer: %v", err)}, true
	}
	defer resp.Body.Close()
	a, err := parseHTTPAnswer(resp)
	if err != nil {
		return load.Answer{At: time.Now(), Class: load.ClassTransport, Detail: err.Error()}, true
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return a, true
	}
	return a, resp.Close
}

// parseHTTPAnswer reads the JSON-RPC answer from a JSON body or from the
// first answer event of an SSE stream (progress notifications may come
// first).
func parseHTTPAnswer(resp *http.Response) (load.Answer, error) {
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return load.Answer{At: time.Now(), Class: load.ClassHTTP(resp.StatusCode), Detail: strings.TrimSpace(string(b))}, nil
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct != "text/event-stream" {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return load.Answer{}, fmt.Errorf("cannot read the answer's body: %w", err)
		}
		return httpAnswer(b, time.Now())
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		case len(line) == 0 && len(data) > 0:
			if a, err := httpAnswer(data, time.Now()); err == nil {
				return a, nil
			}
			data = data[:0] // a notification: not ours
		}
	}
	return load.Answer{}, fmt.Errorf("the event stream ended without an answer (%v)", sc.Err())
}

// httpAnswer classes one JSON-RPC message; an error when it is no answer.
func httpAnswer(b []byte, at time.Time) (load.Answer, error) {
	_, a, ok := parseAnswer(b)
	if !ok {
		return load.Answer{}, fmt.Errorf("not an answer to a load call: %.200s", b)
	}
	return a.loadAnswer(at), nil
}

// loadHeaders are the MCP headers that end a load request's head, for a
// call of tool in MCP session j: the session's id (2025-11-25) or the
// method and tool (2026-07-28), and the version.
func loadHeaders(version string, tools []string, sessionIDs []string) func(entry, j int) string {
	pv := mcp.HeaderProtocolVersion + ": " + version + "\r\n"
	if mcp.IsModernProtocol(version) {
		return func(e, _ int) string {
			return pv + mcp.HeaderMethod + ": tools/call\r\n" + mcp.HeaderName + ": " + tools[e] + "\r\n"
		}
	}
	return func(_, j int) string {
		if len(sessionIDs) == 0 {
			return pv
		}
		return pv + "Mcp-Session-Id: " + sessionIDs[j] + "\r\n"
	}
}
