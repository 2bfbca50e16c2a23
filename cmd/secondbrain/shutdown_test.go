package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

// shutdownBound is how long serve may take to exit after a signal in these
// tests. serve's own deadline is 10 s; this is generous for -race on a busy
// 2-core box. The real numbers are logged (t.Logf) and in the report.
const shutdownBound = 15 * time.Second

// fakeControl talks to the out-of-process fake's control endpoints.
type fakeControl struct{ base string }

func (f fakeControl) setFaults(t *testing.T, faults string) {
	t.Helper()
	resp, err := http.Post(f.base+"/_fault", "application/json", strings.NewReader(faults))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /_fault %s: %d %s", faults, resp.StatusCode, b)
	}
}

func (f fakeControl) stats(t *testing.T) map[string]int64 {
	t.Helper()
	resp, err := http.Get(f.base + "/_stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitPolled waits until the server has created a background response at
// the fake and polled it at least once: the call is in flight.
func (f fakeControl) waitPolled(t *testing.T, exited <-chan struct{}, stderr *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := f.stats(t)
		if s["responses_background"] >= 1 && s["responses_polled"] >= 1 {
			return
		}
		select {
		case <-exited:
			t.Fatalf("server exited before the call was in flight:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call never reached the polling stage (stats %v):\n%s", s, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveProc is `secondbrain serve` as a subprocess the test signals itself.
type serveProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	err    error // cmd.Wait's, valid once exited is closed
}

func startServe(t *testing.T, e *e2e, stdio bool, extra ...string) (*serveProc, io.WriteCloser, io.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], e.args(extra...)...)
	cmd.Env = append(os.Environ(), e.environ()...) // GORACE: see TestMain
	p := &serveProc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	var in io.WriteCloser
	var out io.Reader
	if stdio {
		in, out = stdioPipes(t, cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, in, out
}

// signalAndWait sends sig and returns how long the process took to exit;
// past shutdownBound it kills the process and fails the test.
func (p *serveProc) signalAndWait(t *testing.T, sig os.Signal) time.Duration {
	t.Helper()
	t0 := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return time.Since(t0)
	case <-time.After(shutdownBound):
		_ = p.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump into stderr
		time.Sleep(time.Second)
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("serve did not exit within %v of %v:\n%s", shutdownBound, sig, p.stderr.String())
		return 0
	}
}

func TestShutdown_InFlightLongPoll(t *testing.T) {
	cases := []struct {
		name  string
		stdio bool
		sig   os.Signal
		// sseStream opens the standalone GET stream (HTTP only).
		sseStream bool
	}{
		{name: "http SIGTERM with SSE stream", sig: syscall.SIGTERM, sseStream: true},
		{name: "http SIGINT without SSE stream", sig: os.Interrupt},
		{name: "stdio SIGTERM", stdio: true, sig: syscall.SIGTERM},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newE2E(t, true)
			fake := fakeControl{base: strings.TrimSuffix(e.fakeURL, "/v1")}
			// The harness's long-poll: o3 runs ~340 s of scenario time.
			fake.setFaults(t, `{"response_duration":"340s"}`)
			e.extra = []string{"--time-scale", "60"}

			var (
				p       *serveProc
				callErr = make(chan error, 1)
			)
			if tc.stdio {
				var in io.WriteCloser
				var out io.Reader
				p, in, out = startServe(t, e, true)
				defer in.Close()
				go func() { _, _ = io.Copy(io.Discard, out) }()
				for _, msg := range []string{
					`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + mcp.LATEST_LEGACY_PROTOCOL_VERSION + `","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`,
					`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
					mustCallLine(t, 2, "chat_with_o3", chat("stdio-shutdown", e.project+"/main.go")),
				} {
					if _, err := io.WriteString(in, msg+"\n"); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				p, _, _ = startServe(t, e, false, "--http", addr)
				waitBound(t, p)
				var opts []transport.StreamableHTTPCOption
				if tc.sseStream {
					opts = append(opts, transport.WithContinuousListening())
				}
				tr, err := transport.NewStreamableHTTP("http://"+addr+"/mcp", opts...)
				if err != nil {
					t.Fatal(err)
				}
				c := client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
				initClient(t, c)
				defer c.Close()
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					req := mcp.CallToolRequest{}
					req.Params.Name = "chat_with_o3"
					req.Params.Arguments = chat("http-shutdown", e.project+"/main.go")
					_, err := c.CallTool(ctx, req)
					callErr <- err
				}()
			}
			fake.waitPolled(t, p.exited, p.stderr)
			before := fake.stats(t)["responses_cancelled"]

			took := p.signalAndWait(t, tc.sig)
			t.Logf("%s: exited %v after the signal", tc.name, took)
			if p.err != nil {
				t.Errorf("serve exited with %v, want status 0:\n%s", p.err, p.stderr.String())
			}
			if took > shutdownBound {
				t.Errorf("serve took %v to exit, want < %v", took, shutdownBound)
			}
			// The cancel at the provider is sent before serve exits.
			if got := fake.stats(t)["responses_cancelled"] - before; got != 1 {
				t.Errorf("responses_cancelled at the fake went up by %d, want 1:\n%s", got, p.stderr.String())
			}
			logs := p.stderr.String()
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, "shutdown") || strings.Contains(l, "stopped") || strings.Contains(l, "cancelled") {
					t.Log(l)
				}
			}
			for _, want := range []string{"shutdown started", "shutdown finished"} {
				if !strings.Contains(logs, want) {
					t.Errorf("stderr lacks %q:\n%s", want, logs)
				}
			}
			if strings.Contains(logs, "abandoned") {
				t.Errorf("shutdown abandoned a stage:\n%s", logs)
			}
			if !tc.stdio {
				select {
				case err := <-callErr:
					if err == nil {
						t.Error("the in-flight call succeeded; it should have been cut off by the shutdown")
					}
				case <-time.After(30 * time.Second):
					t.Error("the client's call did not end after the server exited")
				}
			}
		})
	}
}

func mustCallLine(t *testing.T, id int, tool string, args map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args, "_meta": map[string]any{"progressToken": "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitBound waits for serve's "HTTP listener bound" log line.
func waitBound(t *testing.T, p *serveProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), "HTTP listener bound") {
		select {
		case <-p.exited:
			t.Fatalf("HTTP server exited: %v\n%s", p.err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTP server did not start:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShutdown_HTTPCancelsBeforeGrace pins the root cause in-process: with
// an hour of ShutdownGrace, ListenHTTP must still return at once when its
// ctx ends, because it cancels the in-flight call (and the SSE stream)
// instead of letting http.Server.Shutdown wait for them. Before the fix it
// waited out the whole grace.
func TestShutdown_HTTPCancelsBeforeGrace(t *testing.T) {
	e := newE2E(t, true)
	fake := fakeControl{base: strings.TrimSuffix(e.fakeURL, "/v1")}
	fake.setFaults(t, `{"response_duration":"340s"}`)
	st, err := session.Open(context.Background(), e.db, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{
		Endpoints: map[string]provider.Endpoint{
			server.ProviderOpenAI: {Name: "openai", BaseURL: e.fakeURL, APIKey: "test-openai", KeyEnv: "OPENAI_API_KEY"},
		},
		Roots: []string{e.project}, Sessions: st, Clock: clock.NewScaled(60),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	bound := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- srv.ListenHTTP(ctx, server.HTTPOptions{Addr: "127.0.0.1:0", ShutdownGrace: time.Hour},
			func(addr string) { bound <- addr })
	}()
	addr := <-bound
	tr, err := transport.NewStreamableHTTP("http://"+addr+"/mcp", transport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	initClient(t, c)
	defer c.Close()
	callErr := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req := mcp.CallToolRequest{}
		req.Params.Name = "chat_with_o3"
		req.Params.Arguments = chat("grace", e.project+"/main.go")
		_, err := c.CallTool(cctx, req)
		callErr <- err
	}()
	never := make(chan struct{})
	fake.waitPolled(t, never, &lockedBuffer{})

	t0 := time.Now()
	stop()
	select {
	case err := <-served:
		t.Logf("ListenHTTP returned %v after its ctx ended (grace 1h)", time.Since(t0))
		if err != nil {
			t.Errorf("ListenHTTP: %v", err)
		}
	case <-time.After(shutdownBound):
		t.Fatalf("ListenHTTP still running %v after its ctx ended: it is waiting out ShutdownGrace", shutdownBound)
	}
	srv.Close() // waits for the provider-side cancel
	if got := fake.stats(t)["responses_cancelled"]; got != 1 {
		t.Errorf("responses_cancelled = %d, want 1", got)
	}
	select {
	case err := <-callErr:
		if err == nil {
			t.Error("the in-flight call succeeded; it should have been cut off")
		}
	case <-time.After(30 * time.Second):
		t.Error("the client's call did not end after the server stopped")
	}
}

func TestLogFlushDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name     string
		shutdown time.Time
		want     time.Duration // after now
	}{
		{"plenty of time left: the flush bound", now.Add(10 * time.Second), logFlushMax},
		{"little left: stop short of the deadline", now.Add(time.Second), 750 * time.Millisecond},
		{"deadline passed: a moment for stderr", now.Add(-time.Second), 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := logFlushDeadline(now, tt.shutdown).Sub(now); got != tt.want {
			t.Errorf("%s: flush gets %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A log sink that accepts connections and never answers held the exit for
// the whole 10 s shutdown deadline, with exit status 0 and no word of it.
func TestShutdown_HungLogSink(t *testing.T) {
	release := make(chan struct{})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); sink.Close() })
	e := newE2E(t, false)
	p, in, out := startServe(t, e, true, "--victorialogs-url", sink.URL)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	_, _ = io.WriteString(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+mcp.LATEST_LEGACY_PROTOCOL_VERSION+`","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`+"\n")
	time.Sleep(500 * time.Millisecond) // records queue up for the sink
	t0 := time.Now()
	in.Close() // the host left
	select {
	case <-p.exited:
	case <-time.After(shutdownBound):
		t.Fatalf("serve did not exit within %v with a hung sink:\n%s", shutdownBound, p.stderr.String())
	}
	took := time.Since(t0)
	t.Logf("exit %v after stdin closed, with a hung sink", took)
	// logFlushMax plus the other stops; far below the 10 s deadline.
	if took > logFlushMax+3*time.Second {
		t.Errorf("serve took %v to exit with a hung sink; the flush is bounded by %v", took, logFlushMax)
	}
	if !strings.Contains(p.stderr.String(), "log shipping") {
		t.Errorf("stderr does not report the undelivered records:\n%s", p.stderr.String())
	}
}
