package scenarios

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/probes"
)

// pipes returns a pinger writing into a pipe whose other end the test
// reads, and closes both at the end.
func pipes(t *testing.T) (*pipePinger, *bufio.Reader) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	return newPipePinger(w, ProtocolLegacy), bufio.NewReader(r)
}

func TestPipePinger_pingAnsweredAndFilteredOut(t *testing.T) {
	p, server := pipes(t)
	type answer struct {
		at  time.Time
		err error
	}
	got := make(chan answer, 1)
	forget, err := p.TrySend(probes.KindPing, func(at time.Time, err error) { got <- answer{at, err} })
	if err != nil || forget == nil {
		t.Fatalf("TrySend = %v", err)
	}
	line, _ := server.ReadString('\n')
	if line != `{"jsonrpc":"2.0","id":"hb-1","method":"ping"}`+"\n" {
		t.Fatalf("server read %q", line)
	}
	// The server's stdout: a client response, the ping's answer, a
	// notification that mentions "hb-" in its text, and a late answer to
	// a forgotten ping. The client sees every line but the two answers.
	stdout := strings.Join([]string{
		`{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`,
		`{"jsonrpc":"2.0","id":"hb-1","result":{}}`,
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"\"hb-1"}}`,
		`{"jsonrpc":"2.0","id":"hb-99","result":{}}`,
		`{"jsonrpc":"2.0","id":8,"result":{}}`,
	}, "\n") + "\n"
	client, err := io.ReadAll(p.reader(strings.NewReader(stdout)))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}` + "\n" +
		`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"\"hb-1"}}` + "\n" +
		`{"jsonrpc":"2.0","id":8,"result":{}}` + "\n"
	if string(client) != want {
		t.Errorf("client read:\n%s\nwant:\n%s", client, want)
	}
	select {
	case a := <-got:
		if a.err != nil || a.at.IsZero() {
			t.Errorf("answered(%v, %v)", a.at, a.err)
		}
	default:
		t.Fatal("the ping's answer was not delivered")
	}
	if len(p.pending) != 0 {
		t.Errorf("%d pings still pending", len(p.pending))
	}
}

func TestPipePinger_errorAnswer(t *testing.T) {
	p, server := pipes(t)
	var gotErr error
	if _, err := p.TrySend(probes.KindPing, func(_ time.Time, err error) { gotErr = err }); err != nil {
		t.Fatal(err)
	}
	_, _ = server.ReadString('\n')
	_, _ = io.ReadAll(p.reader(strings.NewReader(`{"jsonrpc":"2.0","id":"hb-1","error":{"code":-32601,"message":"no ping here"}}` + "\n")))
	if gotErr == nil || !strings.Contains(gotErr.Error(), "-32601") {
		t.Errorf("answered with %v; want the JSON-RPC error", gotErr)
	}
}

// The no-op probe is a call of NoopTool; a tool error answers it with an
// error, a result with the id after it is still found.
func TestPipePinger_noop(t *testing.T) {
	p, server := pipes(t)
	var errs []error
	for range 2 {
		if _, err := p.TrySend(probes.KindNoop, func(_ time.Time, err error) { errs = append(errs, err) }); err != nil {
			t.Fatal(err)
		}
	}
	line, _ := server.ReadString('\n')
	if want := `{"jsonrpc":"2.0","id":"hb-1","method":"tools/call","params":{"name":"` + NoopTool + `","arguments":{}}}` + "\n"; line != want {
		t.Fatalf("server read %q; want %q", line, want)
	}
	stdout := `{"jsonrpc":"2.0","result":{"content":[{"type":"text","text":"models"}]},"id":"hb-1"}` + "\n" +
		`{"jsonrpc":"2.0","id":"hb-2","result":{"content":[],"isError":true}}` + "\n"
	if rest, _ := io.ReadAll(p.reader(strings.NewReader(stdout))); len(rest) != 0 {
		t.Errorf("the client read %q; want nothing", rest)
	}
	if len(errs) != 2 || errs[0] != nil || errs[1] == nil {
		t.Errorf("answers %v; want nil then a tool error", errs)
	}
}

func TestPipePinger_neverBlocks(t *testing.T) {
	p, _ := pipes(t)
	// A writer busy with a frame: the ping is not sent, nothing pending.
	p.frames.Lock()
	if _, err := p.TrySend(probes.KindPing, func(time.Time, error) {}); !errors.Is(err, probes.ErrWouldBlock) {
		t.Errorf("with the writer busy: %v; want ErrWouldBlock", err)
	}
	p.frames.Unlock()
	// A full pipe (a server that stopped reading its stdin).
	sent := 0
	for ; sent < 10000; sent++ {
		_, err := p.TrySend(probes.KindPing, func(time.Time, error) {})
		if errors.Is(err, probes.ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent == 10000 {
		t.Fatal("the pipe never filled")
	}
	if len(p.pending) != sent {
		t.Errorf("%d pending after %d sent; a ping not sent must not stay pending", len(p.pending), sent)
	}
}

// Frames written by the client and pings written by the clock never
// interleave inside a line.
func TestPipePinger_framesStayWhole(t *testing.T) {
	p, server := pipes(t)
	var wg sync.WaitGroup
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":"` + strings.Repeat("a", 20000) + `"}}` + "\n"
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 20 {
			_, _ = p.writer().Write([]byte(big))
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			_, _ = p.TrySend(probes.KindPing, func(time.Time, error) {})
		}
	}()
	lines := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := server.ReadString('\n')
			if err != nil {
				return
			}
			lines++
			if line != big && !strings.HasPrefix(line, `{"jsonrpc":"2.0","id":"hb-`) {
				t.Errorf("a torn frame: %.80q…", line)
			}
		}
	}()
	wg.Wait()
	_ = p.f.Close()
	<-done
	if lines < 20 {
		t.Errorf("read %d lines; want the 20 client frames at least", lines)
	}
}

// Where ping no longer exists the heartbeat probes with server/discover;
// every probe carries the version and capabilities in _meta, and each
// frame still fits one atomic pipe write.
func TestPipePinger_statelessFrames(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	p, server := newPipePinger(w, ProtocolStateless), bufio.NewReader(r)
	for _, tt := range []struct {
		kind   probes.Kind
		method string
	}{{probes.KindPing, "server/discover"}, {probes.KindNoop, "tools/call"}} {
		if _, err := p.TrySend(tt.kind, func(time.Time, error) {}); err != nil {
			t.Fatalf("TrySend(%s) = %v", tt.kind, err)
		}
		line, _ := server.ReadString('\n')
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Meta map[string]json.RawMessage `json:"_meta"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Fatalf("%s probe %q: %v", tt.kind, line, err)
		}
		if msg.Method != tt.method || string(msg.Params.Meta[mcp.MetaKeyProtocolVersion]) != `"`+ProtocolStateless+`"` || msg.Params.Meta[mcp.MetaKeyClientCapabilities] == nil {
			t.Errorf("%s probe = %s; want %s with the version and capabilities in _meta", tt.kind, line, tt.method)
		}
	}
}
