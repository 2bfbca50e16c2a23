package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
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
// puts the connection back.
type httpLoad struct {
	addr      string // host:port
	path      string
	host      string
	templates []callTemplate
	session   func(k uint64) string
	// headers of arrival k: the MCP session's and the protocol's.
	headers func(k uint64, tool string) string

	free  chan *loadConn
	conns []*loadConn
	stop  chan struct{}
	wg    sync.WaitGroup
	seq   atomic.Uint64
}

var _ load.Sender = (*httpLoad)(nil)

// dialTimeout bounds every connection the load opens.
const dialTimeout = 5 * time.Second

// newHTTPLoad opens n connections to rawURL.
func newHTTPLoad(ctx context.Context, rawURL string, n int, templates []callTemplate, session func(uint64) string,
	headers func(k uint64, tool string) string) (*httpLoad, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("cannot load %q: want an http:// URL", rawURL)
	}
	h := &httpLoad{addr: u.Host, path: u.RequestURI(), host: u.Host, templates: templates, session: session, headers: headers,
		free: make(chan *loadConn, n), stop: make(chan struct{})}
	for range n {
		c := &loadConn{h: h, pending: make(chan *loadCall, 1)}
		if err := c.dial(ctx); err != nil {
			h.Close()
			return nil, err
		}
		h.conns = append(h.conns, c)
		h.free <- c
		h.wg.Add(1)
		go c.readLoop()
	}
	return h, nil
}

// Close closes every connection and waits for the readers.
func (h *httpLoad) Close() {
	close(h.stop)
	for _, c := range h.conns {
		c.close()
	}
	h.wg.Wait()
}

func (h *httpLoad) request(r load.Request) []byte {
	t := h.templates[r.Entry]
	id := loadIDPrefix + strconv.FormatUint(h.seq.Add(1), 10)
	body := `{"jsonrpc":"2.0","id":"` + id + `",` + t.body(h.session(r.Index)) + "}"
	var b bytes.Buffer
	b.Grow(len(body) + 256)
	b.WriteString("POST " + h.path + " HTTP/1.1\r\nHost: " + h.host +
		"\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n" + h.headers(r.Index, t.tool) + "\r\n")
	b.WriteString(body)
	return b.Bytes()
}

// TrySend implements load.Sender: an idle connection and one write.
func (h *httpLoad) TrySend(r load.Request, done func(load.Answer)) (func(), error) {
	var c *loadConn
	select {
	case c = <-h.free:
	default:
		return nil, load.ErrWouldBlock
	}
	return c.send(h.request(r), done, true)
}

// Send implements load.Sender: waits for an idle connection.
func (h *httpLoad) Send(ctx context.Context, r load.Request, done func(load.Answer)) (func(), error) {
	var c *loadConn
	select {
	case c = <-h.free:
	case <-ctx.Done():
		return nil, fmt.Errorf("no connection came free: %w", ctx.Err())
	}
	return c.send(h.request(r), done, false)
}

// loadConn is one connection and the call on it.
type loadConn struct {
	h       *httpLoad
	mu      sync.Mutex // guards conn and br across a redial
	conn    *net.TCPConn
	raw     syscall.RawConn
	br      *bufio.Reader
	read    atomic.Int64 // bytes read from the connection since the last request was written
	pending chan *loadCall
}

type loadCall struct {
	req       []byte
	done      func(load.Answer)
	abandoned atomic.Bool
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
	c.mu.Lock()
	c.conn, c.raw, c.br = tc, raw, bufio.NewReaderSize(countingReader{r: tc, n: &c.read}, 16<<10)
	c.mu.Unlock()
	return nil
}

func (c *loadConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
	}
}

// send writes req on the idle connection c: at once (a non-blocking
// write; what the socket does not take is written by a goroutine), or,
// from Send, waiting.
func (c *loadConn) send(req []byte, done func(load.Answer), now bool) (func(), error) {
	lc := &loadCall{req: req, done: done}
	c.read.Store(0)
	c.mu.Lock()
	raw, conn := c.raw, c.conn
	c.mu.Unlock()
	n := 0
	if now {
		var werr error
		if err := raw.Write(func(fd uintptr) bool { n, werr = unix.Write(int(fd), req); return true }); err != nil || (werr != nil && !errors.Is(werr, unix.EAGAIN)) {
			// The reader, given a call nobody waits for, reads the
			// closed connection's error, redials and frees it.
			gone := &loadCall{done: func(load.Answer) {}}
			gone.abandoned.Store(true)
			conn.Close()
			c.pending <- gone
			return nil, fmt.Errorf("cannot write a load call: %w", errors.Join(err, werr))
		}
		n = max(n, 0)
	}
	c.pending <- lc
	if n < len(req) {
		rest := req[n:]
		if now {
			c.h.wg.Add(1)
			go func() {
				defer c.h.wg.Done()
				_, _ = conn.Write(rest) // a failure shows as the reader's
			}()
		} else if _, err := conn.Write(rest); err != nil {
			conn.Close() // the reader answers the call as a transport error
		}
	}
	return func() {
		lc.abandoned.Store(true)
		conn.Close() // the answer is not wanted: free the connection by a redial
	}, nil
}

// readLoop answers each call written on the connection, then frees it.
func (c *loadConn) readLoop() {
	defer c.h.wg.Done()
	for {
		var lc *loadCall
		select {
		case lc = <-c.pending:
		case <-c.h.stop:
			return
		}
		a, broken := c.answer(lc)
		if broken {
			c.close()
			if err := c.dial(context.Background()); err != nil {
				a.Detail += "; " + err.Error()
			}
		}
		select {
		case <-c.h.stop:
			return
		default:
		}
		c.h.free <- c
		if !lc.abandoned.Load() {
			lc.done(a)
		}
	}
}

// answer reads the call's answer. A connection the server closed while
// it sat idle (a Go server closes idle keep-alive connections after its
// idle timeout) fails the first request written on it with nothing read:
// that request never reached a handler, so it is written once more on a
// fresh connection, as HTTP clients do — its latency still counts from
// the intended time.
func (c *loadConn) answer(lc *loadCall) (load.Answer, bool) {
	c.mu.Lock()
	br := c.br
	c.mu.Unlock()
	a, broken := readAnswer(br)
	if !broken || a.Class != load.ClassTransport || c.read.Load() != 0 || lc.abandoned.Load() {
		return a, broken
	}
	c.close()
	if err := c.dial(context.Background()); err != nil {
		a.Detail += "; " + err.Error()
		return a, true
	}
	c.read.Store(0)
	c.mu.Lock()
	conn, br := c.conn, c.br
	c.mu.Unlock()
	if _, err := conn.Write(lc.req); err != nil {
		return load.Answer{At: time.Now(), Class: load.ClassTransport, Detail: fmt.Sprintf("cannot write a load call again on a fresh connection: %v", err)}, true
	}
	return readAnswer(br)
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
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.Unmarshal(b, &msg); err != nil || msg.Method != "" || len(msg.ID) == 0 {
		return load.Answer{}, fmt.Errorf("not a JSON-RPC answer: %.200s", b)
	}
	_, a, ok := parseAnswer(b)
	if !ok {
		return load.Answer{}, fmt.Errorf("an answer to another request: %.200s", b)
	}
	return a.loadAnswer(at), nil
}

// loadHeaders are the MCP headers of the load's requests: the session's
// id (2025-11-25) or the method and tool (2026-07-28), and the version.
func loadHeaders(version string, sessionIDs []string) func(k uint64, tool string) string {
	pv := mcp.HeaderProtocolVersion + ": " + version + "\r\n"
	if mcp.IsModernProtocol(version) {
		return func(_ uint64, tool string) string {
			return pv + mcp.HeaderMethod + ": tools/call\r\n" + mcp.HeaderName + ": " + tool + "\r\n"
		}
	}
	return func(k uint64, _ string) string {
		if len(sessionIDs) == 0 {
			return pv
		}
		return pv + "Mcp-Session-Id: " + sessionIDs[k%uint64(len(sessionIDs))] + "\r\n"
	}
}
