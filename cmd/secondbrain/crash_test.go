package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server"
)

// sbProc is one `secondbrain serve` subprocess spoken to over stdio, with the
// *exec.Cmd of the real server process (the test binary itself, no wrapper)
// so a test can SIGKILL it, and the address of its debug listener.
type sbProc struct {
	t      *testing.T
	c      *client.Client
	cmd    *exec.Cmd
	stderr *lockedBuffer
	debug  string // http://host:port of --debug-addr
}

// startServer starts `serve` with e's flags plus a debug listener, and
// initializes an MCP client over its stdio. Cleanup closes the client, which
// closes stdin and waits for the process (killing it after a grace period).
func (e *e2e) startServer(extra ...string) *sbProc {
	e.t.Helper()
	addrFile := filepath.Join(e.t.TempDir(), "debug.addr")
	args := e.args(append([]string{"--debug-addr", "127.0.0.1:0", "--debug-addr-file", addrFile}, extra...)...)
	p := &sbProc{t: e.t, stderr: &lockedBuffer{}}
	tr := transport.NewStdioWithOptions(os.Args[0], e.environ(), args,
		transport.WithCommandFunc(func(_ context.Context, command string, env, args []string) (*exec.Cmd, error) {
			cmd := exec.Command(command, args...)
			cmd.Env = append(os.Environ(), env...)
			cmd.Stderr = p.stderr
			p.cmd = cmd
			return cmd, nil
		}))
	p.c = client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	initClient(e.t, p.c)
	e.t.Cleanup(func() { _ = p.c.Close() })
	// The debug listener is bound before stdio is served, so the file exists
	// once initialize has been answered.
	b, err := os.ReadFile(addrFile)
	if err != nil {
		e.t.Fatalf("debug address: %v; stderr:\n%s", err, p.stderr.String())
	}
	p.debug = "http://" + strings.TrimSpace(string(b))
	return p
}

// callCtx calls a tool with ctx and returns the result or the error.
func (p *sbProc) callCtx(ctx context.Context, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	return p.c.CallTool(ctx, req)
}

// calls returns the server's /debug/calls snapshot.
func (p *sbProc) calls() server.CallsSnapshot {
	p.t.Helper()
	var s server.CallsSnapshot
	getJSON(p.t, httpClient, p.debug+"/debug/calls", &s)
	return s
}

// memoryStats returns the project-memory writer's counters from /debug/vars.
func (p *sbProc) memoryStats() map[string]int64 {
	p.t.Helper()
	var v struct {
		Memory map[string]int64 `json:"memory"`
	}
	getJSON(p.t, httpClient, p.debug+"/debug/vars", &v)
	return v.Memory
}

// waitMemorySettled waits until the memory writer has dealt with n exchanges
// (written, failed or dropped): its uploads then stop moving the fake's counts.
func (p *sbProc) waitMemorySettled(n int64) map[string]int64 {
	p.t.Helper()
	var m map[string]int64
	waitFor(p.t, 20*time.Second, fmt.Sprintf("memory writer to settle at %d exchanges", n), func() bool {
		m = p.memoryStats()
		return m["Enqueued"] >= n && m["Written"]+m["Failed"]+m["Dropped"] == m["Enqueued"]
	})
	return m
}

// waitFor polls cond every 5 ms until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0)
}

// writeFiles writes n text files of about size bytes each under
// root/sub and returns that directory. salt makes the contents (and so the
// content hashes) differ between sets.
func writeFiles(t *testing.T, root, sub string, n, size int, salt string) string {
	t.Helper()
	dir := filepath.Join(root, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		var b strings.Builder
		for line := 0; b.Len() < size; line++ {
			fmt.Fprintf(&b, "%s file %d line %d: the quick brown fox jumps over the lazy dog while lorem ipsum dolor sit amet\n", salt, i, line)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", i)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startFake runs an in-test fakeai on loopback with faults f and points e at it.
func startFake(t *testing.T, e *e2e, f fakeai.Faults) *fakeai.Server {
	t.Helper()
	fake := fakeai.New(fakeai.WithFaults(f))
	base, stop, err := fake.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); _ = fake.Close() })
	e.fakeURL = base + "/v1"
	return fake
}

func statsJSON(s map[string]int64, keys ...string) string {
	m := map[string]int64{}
	for _, k := range keys {
		m[k] = s[k]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// SIGKILL the server while a 90-file overflow is on its way to the
// vector store — once, or several times in a row with new file contents
// each time — start a new server on the same database, and the lifecycle
// manager leaves nothing at the provider: the crashed runs' stores expire
// (TTL 5 min of scenario time = 3 s at --time-scale 100) and every file they
// uploaded — attached to a batch, unattached, or whose id was never learnt
// — is deleted within 60 s of the restart. The restarted server still
// answers.
func TestE2E_CrashMidUploadLeavesNoOrphans(t *testing.T) {
	// Uploads take 300 ms; after 24 arrivals the throttle makes them 7×
	// slower (2.1 s): a kill lands with 20+ uploads finished and the
	// throttled ones in flight.
	inFlight := fakeai.Faults{UploadLatency: fakeai.Duration(300 * time.Millisecond), ThrottleAfterUploads: 24, ThrottleFactor: 7}
	tests := []struct {
		name   string
		faults fakeai.Faults
		// killWhen says when a call is far enough along, given the fake's
		// stats and those at the call's start.
		killWhen func(st, at map[string]int64) bool
		// abandons: uploads are in flight at a kill, so the fake must see
		// some of them cut off.
		abandons bool
		kills    int
	}{{
		name:   "uploads in flight",
		faults: inFlight,
		killWhen: func(st, at map[string]int64) bool {
			return st["files_uploaded"]-at["files_uploaded"] >= 20 && st["uploads_throttled"] > at["uploads_throttled"]
		},
		abandons: true,
		kills:    1,
	}, {
		// Every upload done, the file batches stay in_progress for an hour:
		// the files are in the store at the provider, not yet in our records.
		name:   "batches polling",
		faults: fakeai.Faults{BatchDuration: fakeai.Duration(time.Hour)},
		killWhen: func(st, at map[string]int64) bool {
			return st["file_batches_created"]-at["file_batches_created"] >= 5 && st["vector_store_files_attached"]-at["vector_store_files_attached"] >= 20
		},
		kills: 1,
	}, {
		// Three runs in a row killed mid-upload, each with new contents
		// (so new uploads), then one restart. Batches never finish, so no
		// call can end before its kill; uploads of 300 ms are in flight.
		name:   "three kills in a row",
		faults: fakeai.Faults{UploadLatency: fakeai.Duration(300 * time.Millisecond), BatchDuration: fakeai.Duration(time.Hour)},
		killWhen: func(st, at map[string]int64) bool {
			return st["files_uploaded"]-at["files_uploaded"] >= 20
		},
		abandons: true,
		kills:    3,
	}}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			verifyNoLeaks(t)
			e := newE2E(t, false)
			fake := startFake(t, e, tc.faults)
			e.extra = []string{"--vector-store-ttl", "5m"}
			var killed []*sbProc
			for i := range tc.kills {
				gen := writeFiles(t, e.project, "gen", 90, 40<<10, fmt.Sprintf("crash-%d", i))
				killed = append(killed, killMidCall(t, e, fake, gen, tc.killWhen, tc.abandons))
			}
			restartLeavesNothing(t, e, fake, killed)
		})
	}
}

// crashKeys are the fake's stats a crash test logs.
var crashKeys = []string{"vector_stores_created", "vector_stores_alive", "vector_stores_deleted", "files_uploaded", "files_alive",
	"files_deleted", "uploads_throttled", "uploads_abandoned", "file_batches_created", "vector_store_files_attached"}

// killMidCall starts a server, calls a model with gen as context and kills
// the server with SIGKILL once killWhen says the call is far enough.
func killMidCall(t *testing.T, e *e2e, fake *fakeai.Server, gen string, killWhen func(st, at map[string]int64) bool, abandons bool) *sbProc {
	t.Helper()
	at := fake.Stats()
	s := e.startServer()
	type outcome struct {
		r   *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r, err := s.callCtx(ctx, "chat_with_o3", chat("crash-"+filepath.Base(gen), gen))
		done <- outcome{r, err}
	}()
	var st map[string]int64
	inCall := waitFor(t, 30*time.Second, "the call to get far enough to kill", func() bool {
		select {
		case o := <-done:
			t.Fatalf("the call ended before the kill: %v %v", o.err, o.r)
		default:
		}
		st = fake.Stats()
		return st["vector_stores_created"] > at["vector_stores_created"] && killWhen(st, at)
	})
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL pid %d %v into the call, fake stats %s", s.cmd.Process.Pid, inCall.Round(time.Millisecond), statsJSON(st, crashKeys...))
	select {
	case o := <-done:
		if o.err == nil {
			t.Fatalf("call to a killed server returned a result: %s", resultText(o.r))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return after the server was killed")
	}
	_ = s.c.Close()
	if ps := s.cmd.ProcessState; ps == nil || ps.Success() || !strings.Contains(ps.String(), "killed") {
		t.Fatalf("server process state after SIGKILL: %v", ps)
	}
	if abandons {
		// The fake sees the killed connections: uploads in flight end unanswered.
		waitFor(t, 10*time.Second, "the fake to see uploads abandoned by the killed server", func() bool {
			return fake.Stats()["uploads_abandoned"] > at["uploads_abandoned"]
		})
	}
	if st := fake.Stats(); st["vector_stores_alive"] == 0 || st["files_alive"] == 0 {
		t.Fatalf("nothing left behind to clean: %s", statsJSON(st, crashKeys...))
	}
	return s
}

// restartLeavesNothing starts a new server on the killed runs' database:
// within 60 s no store and no file is left at the fake, and the server
// answers.
func restartLeavesNothing(t *testing.T, e *e2e, fake *fakeai.Server, killed []*sbProc) {
	t.Helper()
	t0 := time.Now()
	s := e.startServer()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("after the restart: files at the fake: %s\nupload records: %s", fakeFiles(e.fakeURL), fileRecords(e.db))
		for i, k := range killed {
			t.Logf("killed server %d's stderr:\n%s", i+1, k.stderr.String())
		}
		t.Logf("restarted server's stderr:\n%s", s.stderr.String())
	})
	var st map[string]int64
	waitFor(t, 60*time.Second, "no vector store and no file alive at the fake", func() bool {
		st = fake.Stats()
		return st["vector_stores_alive"] == 0 && st["files_alive"] == 0
	})
	t.Logf("restart → fake empty in %v: %s", time.Since(t0).Round(time.Millisecond), statsJSON(st, crashKeys...))
	if st["vector_stores_deleted"] != st["vector_stores_created"] || st["files_deleted"] != st["files_uploaded"] {
		t.Errorf("not everything created was deleted: %s", statsJSON(st, crashKeys...))
	}

	// The restarted server answers a model call with the overflow-free part
	// of the project. Faults off first: the call's memory document goes
	// through a file batch too, and the server's shutdown waits for it.
	fake.SetFaults(fakeai.Faults{})
	ev := echo(t, call(t, s.c, "chat_with_o3", chat("crash-after", filepath.Join(e.project, "main.go"))))
	if strings.Join(ev.InlinedFiles, ",") != "main.go" {
		t.Errorf("after restart: inlined %v", ev.InlinedFiles)
	}
	if strings.Contains(s.stderr.String(), "panic") {
		t.Errorf("restarted server logged a panic:\n%s", s.stderr.String())
	}
}

// fakeFiles lists the files the fake holds (for a failure message).
func fakeFiles(base string) string {
	resp, err := http.Get(base + "/files")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fileRecords dumps the server's upload records (for a failure message).
func fileRecords(path string) string {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id, file_id, upload_name, state, owner, created_at FROM vs_files ORDER BY id`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		var id, created int64
		var fileID, name, state, owner string
		if err := rows.Scan(&id, &fileID, &name, &state, &owner, &created); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&sb, "\n  %d %q %s %s %s %d", id, fileID, name, state, owner, created)
	}
	return sb.String()
}
