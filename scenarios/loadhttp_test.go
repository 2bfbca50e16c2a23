package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/load"
)

// mcpEcho answers tools/call: "ok" with a JSON body, "sse" as an event
// stream after a progress notification, "toolerr" with isError, "rpcerr"
// with a JSON-RPC error, "http" with a 503.
func mcpEcho(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ok := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"fine"}]}}`, req.ID)
	switch req.Params.Name {
	case "ok":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, ok)
	case "sse":
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		io.WriteString(w, "event: message\ndata: "+ok+"\n\n")
	case "toolerr":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"isError":true,"content":[{"type":"text","text":"no such file"}]}}`, req.ID)
	case "rpcerr":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"unknown tool"}}`, req.ID)
	default:
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
}

func TestHTTPLoad_Answers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A short idle timeout: the server closes connections the load left
	// idle, and the load must write such a call again, not fail it.
	srv := &http.Server{Handler: http.HandlerFunc(mcpEcho), IdleTimeout: 50 * time.Millisecond}
	go srv.Serve(ln)
	defer srv.Close()
	tools := []string{"ok", "sse", "toolerr", "rpcerr", "http"}
	var templates []callTemplate
	for _, tool := range tools {
		templates = append(templates, callTemplate{tool: tool, pre: `"method":"tools/call","params":{"name":"` + tool + `","arguments":{"session_id":"`, post: `"}}`, session: true})
	}
	h, err := newHTTPLoad(t.Context(), "http://"+ln.Addr().String()+"/mcp", 2, 1, templates, newSessionNames("t", 1, 0, 1),
		loadHeaders(ProtocolLegacy, tools, []string{"sid"}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	want := map[string]string{"ok": "", "sse": "", "toolerr": load.ClassToolError, "rpcerr": load.ClassRPC(-32602), "http": load.ClassHTTP(503)}
	got := answers(make(chan load.Answer, 1))
	for round := range 2 {
		for i, tool := range tools {
			r := load.Request{Index: uint64(i), Entry: i, Intended: time.Now(), Token: uint64(round*100 + i + 1)}
			send := h.Send
			if i%2 == 0 {
				send = func(_ context.Context, r load.Request, d load.Done) error { return h.TrySend(r, d) }
			}
			if err := send(t.Context(), r, got); err != nil {
				t.Fatalf("round %d: %s: %v", round, tool, err)
			}
			select {
			case a := <-got:
				if a.Class != want[tool] || a.Token != r.Token {
					t.Errorf("round %d: %s answered class %q (%s), token %d; want %q, token %d", round, tool, a.Class, a.Detail, a.Token, want[tool], r.Token)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: %s: no answer", round, tool)
			}
		}
		time.Sleep(150 * time.Millisecond) // past the idle timeout: every connection closed by the server
	}
}

// answers is a load.Done that passes answers on.
type answers chan load.Answer

func (c answers) Answered(a load.Answer) { c <- a }

func FuzzParseHTTPAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":\"ld-1\",\"result\":{}}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"ld-1\",\"error\":{\"code\":-1}}\n\n"))
	f.Add([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, _ := readAnswer(bufio.NewReader(bytes.NewReader(raw)))
		if a.Class == "" && !strings.Contains(string(raw), `"ld-`) {
			t.Fatalf("a success without a load call's id: %q", raw)
		}
	})
}

// TestHTTPLoad_RetryStale: a call that fails with nothing read is written
// once more on a fresh connection only when its connection had sat idle
// long enough for a server to have closed it; on a busy connection the
// failure is reported (a handler that died must not run twice unseen).
func TestHTTPLoad_RetryStale(t *testing.T) {
	tests := []struct {
		name      string
		idle      time.Duration
		wantClass string
		wantRetry int64
	}{
		{"idle connection retried", staleIdleMin + 100*time.Millisecond, "", 1},
		{"busy connection reported", 0, load.ClassTransport, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if first.CompareAndSwap(false, true) {
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close() // closed with nothing written, as an idle close crossing the request
					}
					return
				}
				mcpEcho(w, r)
			}))
			defer srv.Close()
			tmpl := []callTemplate{{tool: "ok", pre: `"method":"tools/call","params":{"name":"ok","arguments":{}}`}}
			h, err := newHTTPLoad(t.Context(), srv.URL+"/mcp", 1, 1, tmpl, newSessionNames("t", 1, 0, 1), loadHeaders(ProtocolLegacy, []string{"ok"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			time.Sleep(tt.idle)
			got := answers(make(chan load.Answer, 1))
			if err := h.TrySend(load.Request{Entry: 0, Intended: time.Now(), Token: 1}, got); err != nil {
				t.Fatal(err)
			}
			select {
			case a := <-got:
				if a.Class != tt.wantClass || h.Retried() != tt.wantRetry {
					t.Errorf("class %q (%s), %d retried; want %q, %d", a.Class, a.Detail, h.Retried(), tt.wantClass, tt.wantRetry)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no answer")
			}
		})
	}
}
