package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/secondbrain-dev/secondbrain/server"
)

// rawClient speaks newline-delimited JSON-RPC over real OS pipes to a Stdio loop.
type rawClient struct {
	t     *testing.T
	in    *os.File // server's stdin, our write end
	mu    sync.Mutex
	resps map[string]rawMsg // by compact id
	notes []rawMsg
	order []string // arrival order: "resp:<id>" or "note:<method>"
	arr   chan struct{}
	done  chan struct{}
	serve chan error
	stdio *server.Stdio
}

type rawMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Params json.RawMessage `json:"params"`
	at     time.Time
}

func startRaw(t *testing.T, s *mcpserver.MCPServer, opt server.StdioOptions) *rawClient {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, in: inW, resps: map[string]rawMsg{}, arr: make(chan struct{}, 1), done: make(chan struct{}), serve: make(chan error, 1)}
	calls, err := server.NewCalls(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.stdio = server.NewStdio(s, opt, calls, nil)
	go func() {
		err := c.stdio.Serve(context.Background(), inR, outW)
		inR.Close()
		outW.Close()
		c.serve <- err
	}()
	go func() {
		defer close(c.done)
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m rawMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("server wrote invalid JSON %q: %v", sc.Text(), err)
				continue
			}
			m.at = time.Now()
			c.mu.Lock()
			if m.Method != "" {
				c.notes = append(c.notes, m)
				c.order = append(c.order, "note:"+m.Method)
			} else {
				k := compact(m.ID)
				if _, dup := c.resps[k]; dup && k != "null" {
					t.Errorf("second response for id %s", k)
				}
				c.resps[k] = m
				c.order = append(c.order, "resp:"+k)
			}
			c.mu.Unlock()
			select {
			case c.arr <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { c.close() })
	return c
}

func compact(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (c *rawClient) close() {
	select {
	case <-c.done:
		return
	default:
	}
	c.in.Close()
	select {
	case err := <-c.serve:
		if err != nil {
			c.t.Errorf("Serve returned %v, want nil on EOF", err)
		}
	case <-time.After(10 * time.Second):
		c.t.Fatal("Serve did not return after stdin closed")
	}
	<-c.done
}

func (c *rawClient) send(line string) {
	c.t.Helper()
	if _, err := c.in.WriteString(line + "\n"); err != nil {
		c.t.Fatalf("cannot write request: %v", err)
	}
}

func (c *rawClient) request(id any, method string, params any) {
	c.t.Helper()
	m := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		m["params"] = params
	}
	b, _ := json.Marshal(m)
	c.send(string(b))
}

func (c *rawClient) notify(method string, params any) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
	c.send(string(b))
}

// wait returns the response for id, waiting up to d.
func (c *rawClient) wait(id any, d time.Duration) (rawMsg, bool) {
	b, _ := json.Marshal(id)
	k := string(b)
	deadline := time.After(d)
	for {
		c.mu.Lock()
		m, ok := c.resps[k]
		c.mu.Unlock()
		if ok {
			return m, true
		}
		select {
		case <-c.arr:
		case <-deadline:
			return rawMsg{}, false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *rawClient) has(id any) bool {
	b, _ := json.Marshal(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.resps[string(b)]
	return ok
}

func (c *rawClient) initialize() {
	c.t.Helper()
	c.request("init", "initialize", map[string]any{
		"protocolVersion": mcp.LATEST_LEGACY_PROTOCOL_VERSION,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "raw", "version": "0"},
	})
	if m, ok := c.wait("init", 10*time.Second); !ok || m.Error != nil {
		c.t.Fatalf("initialize failed: %+v", m)
	}
	c.notify("notifications/initialized", map[string]any{})
}

// slowServer has a tool "slow" that blocks until its context ends or release
// is closed, and records which calls saw their context cancelled.
type slowServer struct {
	s         *mcpserver.MCPServer
	started   atomic.Int64
	release   chan struct{}
	mu        sync.Mutex
	cancelled []string
}

func newSlowServer() *slowServer {
	ss := &slowServer{release: make(chan struct{})}
	ss.s = mcpserver.NewMCPServer("test", "0", mcpserver.WithToolCapabilities(false), mcpserver.WithLogging())
	ss.s.AddTool(mcp.NewTool("slow", mcp.WithString("tag")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		ss.started.Add(1)
		select {
		case <-ctx.Done():
			ss.mu.Lock()
			ss.cancelled = append(ss.cancelled, req.GetString("tag", ""))
			ss.mu.Unlock()
			return nil, ctx.Err()
		case <-ss.release:
			return mcp.NewToolResultText("done " + req.GetString("tag", "")), nil
		}
	})
	ss.s.AddTool(mcp.NewTool("progress"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		srv := mcpserver.ServerFromContext(ctx)
		for i := 1; i <= 3; i++ {
			_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
				"progressToken": req.Params.Meta.ProgressToken, "progress": i,
			})
		}
		return mcp.NewToolResultText("ok"), nil
	})
	return ss
}

func (ss *slowServer) waitStarted(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for ss.started.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d calls started", ss.started.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The concurrency proof: 50 slow calls in flight, 100 pings and a
// cancel (integer and string ids that look alike) answered meanwhile, and no
// response ever written for the cancelled calls.
func TestStdio_SlowCallsNeverDelayPingOrCancel(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{})
	c.initialize()

	// 49 integer ids and one string id "1" that must not collide with 1.
	for i := 1; i <= 49; i++ {
		c.request(i, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": fmt.Sprint("int-", i)}})
	}
	c.request("1", "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "str-1"}})
	ss.waitStarted(t, 50)

	var rtts []time.Duration
	for i := 0; i < 100; i++ {
		id := fmt.Sprint("ping-", i)
		start := time.Now()
		c.request(id, "ping", nil)
		m, ok := c.wait(id, 5*time.Second)
		if !ok || m.Error != nil {
			t.Fatalf("ping %d not answered while 50 calls in flight: %+v", i, m)
		}
		rtts = append(rtts, m.at.Sub(start))
	}
	c.request("list", "tools/list", nil)
	if _, ok := c.wait("list", 5*time.Second); !ok {
		t.Fatal("tools/list not answered while 50 calls in flight")
	}

	// Cancel integer 1 only: the string "1" call must keep running.
	c.notify("notifications/cancelled", map[string]any{"requestId": 1, "reason": "test"})
	waitCancelled := func(tag string) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			ss.mu.Lock()
			got := strings.Join(ss.cancelled, ",")
			ss.mu.Unlock()
			if strings.Contains(got, tag) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("call %s not cancelled; cancelled so far: %q", tag, got)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancelStart := time.Now()
	waitCancelled("int-1")
	intCancel := time.Since(cancelStart)
	ss.mu.Lock()
	if len(ss.cancelled) != 1 {
		t.Fatalf("cancelling id 1 cancelled %v; want only int-1", ss.cancelled)
	}
	ss.mu.Unlock()
	c.request("ping-after-cancel", "ping", nil)
	if _, ok := c.wait("ping-after-cancel", 5*time.Second); !ok {
		t.Fatal("ping after cancel not answered")
	}

	// Now the string id.
	c.notify("notifications/cancelled", map[string]any{"requestId": "1"})
	waitCancelled("str-1")

	close(ss.release)
	for i := 2; i <= 49; i++ {
		m, ok := c.wait(i, 10*time.Second)
		if !ok || m.Error != nil {
			t.Fatalf("call %d: no successful response: %+v", i, m)
		}
	}
	c.close()
	if c.has(1) || c.has("1") {
		t.Errorf("a response was written for a cancelled request (1: %v, \"1\": %v)", c.has(1), c.has("1"))
	}
	if got := c.stdio.Stats().SuppressedResponses; got != 2 {
		t.Errorf("suppressed responses = %d, want 2", got)
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	t.Logf("ping RTT with 50 calls in flight: p50=%v p99=%v max=%v; cancel→handler saw it: %v",
		rtts[49], rtts[98], rtts[99], intCancel)
	if rtts[99] > 2*time.Second {
		t.Errorf("slowest ping took %v with calls in flight; want well under 2s", rtts[99])
	}
}

// Bad input never stops the loop: each gets an error and the next ping works.
func TestStdio_BadInputKeepsServing(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{MaxLineBytes: 1 << 20})
	c.initialize()
	cases := []struct {
		name string
		line string
		code int
	}{
		{"malformed JSON", `{"jsonrpc":"2.0","id":3,"method":`, -32700},
		{"not JSON at all", `hello`, -32700},
		{"10 MB line, id after params", `{"jsonrpc":"2.0","method":"ping","params":{"x":"` + strings.Repeat("a", 10<<20) + `"},"id":"late"}`, -32600},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, -32600},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, -32600},
		{"no method", `{"jsonrpc":"2.0","id":9}`, -32600},
		// A null id was taken for a notification and never answered.
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"tools/list"}`, -32600},
		{"bare number", `42`, -32600},
		{"bare string", `"ping"`, -32600},
		{"method of the wrong type", `{"jsonrpc":"2.0","id":5,"method":5}`, -32600},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.nullErrors()
			c.send(tc.line)
			id := fmt.Sprint("after-", i)
			c.request(id, "ping", nil)
			if _, ok := c.wait(id, 10*time.Second); !ok {
				t.Fatal("ping after bad input not answered")
			}
			var codes []int
			if tc.name == "no method" {
				m, ok := c.wait(9, time.Second)
				if !ok || m.Error == nil {
					t.Fatalf("no error for id 9: %+v", m)
				}
				codes = append(codes, m.Error.Code)
			} else {
				codes = c.nullErrors()[len(before):]
			}
			if len(codes) != 1 || codes[0] != tc.code {
				t.Errorf("error codes %v, want [%d]", codes, tc.code)
			}
			if msg := c.lastNullMessage(); strings.Contains(msg, "Go ") || strings.Contains(msg, "struct") {
				t.Errorf("error message %q shows Go internals", msg)
			}
		})
	}
}

// lastNullMessage is the message of the last error response with a null id.
func (c *rawClient) lastNullMessage() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.resps["null"]; ok && m.Error != nil {
		return m.Error.Message
	}
	return ""
}

// nullErrors lists the codes of error responses with a null id, in order.
func (c *rawClient) nullErrors() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var codes []int
	for _, o := range c.order {
		if o == "resp:null" {
			codes = append(codes, 0)
		}
	}
	// The map keeps only the last null-id response; count them by order and
	// report the last code for the last entry.
	if len(codes) > 0 {
		codes[len(codes)-1] = c.resps["null"].Error.Code
	}
	return codes
}

func TestStdio_BusyIsRefusedNotQueued(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{MaxInFlightCalls: 2})
	c.initialize()
	c.request(1, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "a"}})
	c.request(2, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "b"}})
	ss.waitStarted(t, 2)
	c.request(3, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "c"}})
	m, ok := c.wait(3, 5*time.Second)
	if !ok || m.Error == nil || m.Error.Code != -32000 {
		t.Fatalf("third call: got %+v, want immediate -32000", m)
	}
	c.request("p", "ping", nil)
	if _, ok := c.wait("p", 5*time.Second); !ok {
		t.Fatal("ping not answered with the call bound reached")
	}
	close(ss.release)
	for _, id := range []int{1, 2} {
		if _, ok := c.wait(id, 5*time.Second); !ok {
			t.Fatalf("call %d not answered", id)
		}
	}
}

// A ping is answered on the dispatch loop with an empty result and the id
// as the client wrote it, whatever else is in flight.
func TestStdio_PingAnsweredInline(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{MaxInFlightCalls: 1})
	c.initialize()
	c.request(1, "tools/call", map[string]any{"name": "slow", "arguments": map[string]any{"tag": "a"}})
	ss.waitStarted(t, 1)
	defer close(ss.release)
	for _, id := range []any{"p-1", 7, -1.5} {
		c.request(id, "ping", nil)
		m, ok := c.wait(id, 5*time.Second)
		if !ok || m.Error != nil || string(m.Result) != "{}" {
			t.Fatalf("ping %v: got %+v (answered %v), want an empty result", id, m, ok)
		}
	}
}

func TestStdio_NotificationsPrecedeResult(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{})
	c.initialize()
	for i := 0; i < 20; i++ {
		id := fmt.Sprint("p", i)
		c.request(id, "tools/call", map[string]any{"name": "progress", "_meta": map[string]any{"progressToken": id}})
		if _, ok := c.wait(id, 5*time.Second); !ok {
			t.Fatalf("call %s not answered", id)
		}
		c.mu.Lock()
		n := 0
		for _, note := range c.notes {
			var p struct {
				Token string `json:"progressToken"`
			}
			_ = json.Unmarshal(note.Params, &p)
			if p.Token == id {
				n++
			}
		}
		c.mu.Unlock()
		if n != 3 {
			t.Fatalf("call %s: %d progress notifications before its result, want 3", id, n)
		}
	}
}

func TestStdio_ShutdownCancelsCalls(t *testing.T) {
	ss := newSlowServer()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer outR.Close()
	go func() { _, _ = bufio.NewReader(outR).WriteTo(discard{}) }()
	st := server.NewStdio(ss.s, server.StdioOptions{}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- st.Serve(ctx, inR, outW); outW.Close() }()
	fmt.Fprintln(inW, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"tag":"x"}}}`)
	ss.waitStarted(t, 1)
	cancel()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
	inW.Close()
	if len(ss.cancelled) != 1 {
		t.Errorf("in-flight call not cancelled at shutdown: %v", ss.cancelled)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A line over the cap is answered with the request's own id when it comes
// before the params (QA: the error went out with a null id, so a host
// waiting on that id hung until its own timeout). -32600 "request too large".
func TestStdio_TooLargeLineAnsweredWithItsID(t *testing.T) {
	ss := newSlowServer()
	c := startRaw(t, ss.s, server.StdioOptions{}) // the default 8 MiB cap
	c.initialize()
	pad := strings.Repeat("a", 10<<20) // 10 MB
	cases := []struct {
		name string
		id   any
		line string
	}{
		{"number id", 777, `{"jsonrpc":"2.0","id":777,"method":"tools/call","params":{"name":"x","arguments":{"id":1,"blob":"` + pad + `"}}}`},
		{"string id", "big-1", `{"jsonrpc":"2.0","id":"big-1","method":"ping","params":{"x":"` + pad + `"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.line)
			m, ok := c.wait(tc.id, 20*time.Second)
			if !ok {
				t.Fatalf("no response for id %v", tc.id)
			}
			if m.Error == nil || m.Error.Code != -32600 || !strings.Contains(m.Error.Message, "request too large") {
				t.Errorf("response %+v, want -32600 request too large", m)
			}
			c.request("after-"+tc.name, "ping", nil)
			if _, ok := c.wait("after-"+tc.name, 10*time.Second); !ok {
				t.Fatal("ping after the large line not answered")
			}
		})
	}
}

// A client that stops reading stdout cannot hold shutdown: what is still
// queued after FlushTimeout is dropped and counted, and Serve returns
// without closing the files it was given.
func TestStdio_ShutdownWithUnreadStdout(t *testing.T) {
	// tools/list is answered by a handler goroutine or by the reader
	// itself; ping always by the reader: neither may leave the reader
	// waiting on the blocked writer (it would never see EOF).
	for _, method := range []string{"tools/list", "ping", "no/such/method"} {
		t.Run(strings.ReplaceAll(method, "/", "_"), func(t *testing.T) {
			shutdownWithUnreadStdout(t, method)
		})
	}
}

func shutdownWithUnreadStdout(t *testing.T, method string) {
	ss := newSlowServer()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer func() { inR.Close(); outR.Close(); outW.Close() }()
	st := server.NewStdio(ss.s, server.StdioOptions{FlushTimeout: 200 * time.Millisecond}, nil, nil)
	errc := make(chan error, 1)
	go func() { errc <- st.Serve(context.Background(), inR, outW) }()
	// Far more answers than a 64 KiB pipe holds; nobody reads them.
	var b strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"%s"}`+"\n", i, method)
	}
	go func() {
		_, _ = io.WriteString(inW, b.String()) // blocks for good if the server stops reading
		inW.Close()                            // EOF: shutdown begins
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve = %v, want nil at EOF", err)
		}
	case <-time.After(8 * time.Second):
		buf := make([]byte, 1<<20)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
		inR.Close() // let the writing goroutine end
		t.Fatal("Serve did not return: the server stopped reading stdin, or shutdown waited on a client that does not read")
	}
	if n := st.Stats().Unwritten; n == 0 {
		t.Error("no answer counted as unwritten")
	}
	// out is still open: it takes a write once there is room again.
	if err := outW.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if _, err := outW.Write([]byte("\n")); err != nil {
		t.Errorf("out after Serve: %v (Serve closed it?)", err)
	}
}

// A cancelled Serve ends its read with a deadline, not by closing in.
func TestStdio_ServeLeavesInOpen(t *testing.T) {
	ss := newSlowServer()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer func() { inR.Close(); inW.Close(); outR.Close(); outW.Close() }()
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	st := server.NewStdio(ss.s, server.StdioOptions{}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- st.Serve(ctx, inR, outW) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve = %v, want context.Canceled", err)
	}
	if err := inR.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = inW.Write([]byte("x")) }()
	buf := make([]byte, 1)
	if _, err := inR.Read(buf); err != nil {
		t.Errorf("in after Serve: %v (Serve closed it?)", err)
	}
}
