package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
)

// rawServer is `secondbrain serve` as a subprocess spoken to with raw
// JSON-RPC lines, so the test controls ids and cancellations exactly.
type rawServer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	resps map[string]json.RawMessage // by compact id → whole message
	at    map[string]time.Time
	dups  int
	done  chan struct{}
}

func startRawServer(t *testing.T, e *e2e) *rawServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], e.args()...)
	cmd.Env = append(os.Environ(), e.environ()...)
	stdin, stdout := stdioPipes(t, cmd)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &rawServer{t: t, cmd: cmd, stdin: stdin, resps: map[string]json.RawMessage{}, at: map[string]time.Time{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.Method != "" || len(m.ID) == 0 {
				continue
			}
			var v any
			_ = json.Unmarshal(m.ID, &v)
			k, _ := json.Marshal(v)
			s.mu.Lock()
			if _, dup := s.resps[string(k)]; dup {
				s.dups++
			}
			s.resps[string(k)] = append(json.RawMessage(nil), sc.Bytes()...)
			s.at[string(k)] = time.Now()
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("server did not exit after stdin closed")
		}
		_ = cmd.Wait()
	})
	return s
}

func (s *rawServer) send(v map[string]any) {
	s.t.Helper()
	v["jsonrpc"] = "2.0"
	b, _ := json.Marshal(v)
	if _, err := s.stdin.Write(append(b, '\n')); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

func (s *rawServer) wait(id any, d time.Duration) (time.Time, bool) {
	k, _ := json.Marshal(id)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		at, ok := s.at[string(k)]
		s.mu.Unlock()
		if ok {
			return at, true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Time{}, false
}

// The concurrency proof against the real binary: 50 slow model calls
// in flight (background responses that never finish at the fake), 100 pings
// answered meanwhile, cancels for integer id 1 and string id "1" honoured
// separately, and no response ever written for them.
func TestE2E_StdioConcurrencyAndCancel(t *testing.T) {
	e := newE2E(t, false)
	fake := fakeai.New()
	fake.SetFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(time.Hour)})
	base, stop, err := fake.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); fake.Close() })
	e.fakeURL = base + "/v1"
	s := startRawServer(t, e)

	s.send(map[string]any{"id": "init", "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "raw", "version": "0"}}})
	if _, ok := s.wait("init", 20*time.Second); !ok {
		t.Fatal("no initialize response")
	}
	s.send(map[string]any{"method": "notifications/initialized"})

	callArgs := func(session string) map[string]any {
		return map[string]any{"name": "chat_with_o3", "arguments": map[string]any{"instructions": "think", "output_format": "text",
			"context": []string{}, "session_id": session, "disable_memory_search": true}}
	}
	for i := 1; i <= 49; i++ {
		s.send(map[string]any{"id": i, "method": "tools/call", "params": callArgs(fmt.Sprint("s", i))})
	}
	s.send(map[string]any{"id": "1", "method": "tools/call", "params": callArgs("str")})
	deadline := time.Now().Add(30 * time.Second)
	for fake.Stats()["responses_background"] < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d background responses created", fake.Stats()["responses_background"])
		}
		time.Sleep(5 * time.Millisecond)
	}

	var rtts []time.Duration
	for i := 0; i < 100; i++ {
		id := fmt.Sprint("ping-", i)
		start := time.Now()
		s.send(map[string]any{"id": id, "method": "ping"})
		at, ok := s.wait(id, 10*time.Second)
		if !ok {
			t.Fatalf("ping %d unanswered with 50 calls in flight", i)
		}
		rtts = append(rtts, at.Sub(start))
	}

	cancelled0 := fake.Stats()["responses_cancelled"]
	s.send(map[string]any{"method": "notifications/cancelled", "params": map[string]any{"requestId": 1}})
	for fake.Stats()["responses_cancelled"] < cancelled0+1 {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatal("cancel of id 1 did not reach the provider")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.send(map[string]any{"method": "notifications/cancelled", "params": map[string]any{"requestId": "1"}})
	for fake.Stats()["responses_cancelled"] < cancelled0+2 {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatal("cancel of id \"1\" did not reach the provider")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.send(map[string]any{"id": "after", "method": "ping"})
	if _, ok := s.wait("after", 10*time.Second); !ok {
		t.Fatal("ping after cancels unanswered")
	}
	// Close stdin: the server cancels the 48 calls still running (shutdown),
	// answers them, and exits. Nothing may be written for 1 or "1".
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after stdin closed")
	}
	for i := 2; i <= 49; i++ {
		if _, ok := s.wait(i, time.Millisecond); !ok {
			t.Errorf("call %d never answered", i)
		}
	}
	s.mu.Lock()
	_, got1 := s.resps["1"]
	_, gotS := s.resps[`"1"`]
	dups := s.dups
	s.mu.Unlock()
	if got1 || gotS || dups != 0 {
		t.Errorf("response written after cancel: id 1 %v, id \"1\" %v; duplicate responses %d", got1, gotS, dups)
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	t.Logf("subprocess ping RTT with 50 model calls in flight: p50=%v p99=%v max=%v", rtts[49], rtts[98], rtts[99])
	if rtts[99] > 2*time.Second {
		t.Errorf("slowest ping %v with calls in flight", rtts[99])
	}
}
