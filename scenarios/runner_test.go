package scenarios

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// stubFakes stands in for the fakes: the test server ignores the API.
type stubFakes struct {
	mu   sync.Mutex
	sets []string
}

func (f *stubFakes) APIURL() string  { return "http://127.0.0.1:9" }
func (f *stubFakes) SinkURL() string { return "" }
func (f *stubFakes) SetAPIFaults(a *APIFaults) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, fmt.Sprintf("api:%v", a != nil))
	return nil
}
func (f *stubFakes) SetSinkFaults(s *SinkFaults) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, fmt.Sprintf("sink:%v", s != nil))
	return nil
}
func (f *stubFakes) APIStats() map[string]int64 { return nil }

func (f *stubFakes) Upstream(string) (int, time.Duration)      { return 0, 0 }
func (f *stubFakes) UpstreamActivity(string) (bool, time.Time) { return false, time.Time{} }
func (f *stubFakes) SinkStats() map[string]int64               { return nil }
func (f *stubFakes) Close() error                              { return nil }

func testOptions(t *testing.T, transport string, fakes *stubFakes) Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		TimeScale:  60,
		Transport:  transport,
		Executable: exe,
		TempDir:    t.TempDir(),
		Fakes: func(context.Context, clock.Clock, *Scenario) (Fakes, error) {
			return fakes, nil
		},
		// These tests are about the runner's mechanics on a stand-in
		// server with no debug listener and runs far shorter than a
		// valid heartbeat needs; verdicts are tested in watch_test.go and
		// end to end in cmd/secondbrain.
		NoVerdicts: true,
	}
}

func mustParse(t *testing.T, body string) *Scenario {
	t.Helper()
	sc, err := Parse("test.yaml", []byte(validHead+body))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return sc
}

func runAll(t *testing.T, opts Options, scs ...*Scenario) []*reports.Scenario {
	t.Helper()
	var out []*reports.Scenario
	for ev := range NewRunner(opts).Run(context.Background(), scs) {
		if ev.Kind == ScenarioFinished {
			out = append(out, ev.Result)
		}
	}
	return out
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in temp dir: %s", e.Name())
	}
}

const stepsBody = `
server:
  env: {SB_TEST_SERVER: "1", SB_TEST_CALL_MS: "30"}
project: {files: 5, size: 2KiB, inline_files: 3, inline_size: 512}
faults:
  api: {upload_latency: 1s}
steps:
  - call: {tool: chat_with_o3, session: a}
  - call: {tool: chat_with_o3, session: a, context: []}
  - phase: faulted
  - fault: {sink: {delay: 1s}, for: 6s}
  - gap: 12s
  - call: {tool: chat_with_o3, session: b, background: true, expect: cancelled, timeout: 10m}
  - cancel: {after: 0s}
  - concurrent: {count: 3, call: {tool: chat_with_o3, session: c}}
  - repeat: {times: 2, steps: [{call: {tool: list_models}}]}
`

// Every step kind over both transports, at both protocol versions: the
// heartbeat keeps probing where 2026-07-28 has no ping.
func TestRunner_transports(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ transport, protocol string }{
		{"stdio", ProtocolLegacy}, {"http", ProtocolLegacy}, {"stdio", ProtocolStateless}, {"http", ProtocolStateless},
	} {
		t.Run(tc.transport+"/"+tc.protocol, func(t *testing.T) {
			t.Parallel()
			fakes := &stubFakes{}
			opts := testOptions(t, tc.transport, fakes)
			opts.Protocol = tc.protocol
			// The cancelled call must still be running when cancelled.
			sc := mustParse(t, strings.Replace(stepsBody, `SB_TEST_CALL_MS: "30"`, `SB_TEST_CALL_MS: "400"`, 1))
			res := runAll(t, opts, sc)
			if len(res) != 1 {
				t.Fatalf("got %d results; want 1", len(res))
			}
			r := res[0]
			if r.Error != "" || r.Verdict != reports.VerdictPass {
				for _, s := range r.Steps {
					t.Logf("step %+v", s)
				}
				t.Fatalf("verdict %s, error %q; want pass", r.Verdict, r.Error)
			}
			kinds := map[string]int{}
			for _, s := range r.Steps {
				kinds[s.Kind]++
				if s.Tool == "chat_with_o3" && s.Expected == OutcomeOK && !strings.Contains(s.Detail, "answer session=") {
					t.Errorf("call %d detail %q; want the server's answer", s.Index, s.Detail)
				}
				if s.Kind == KindCancel && (s.CancelMS <= 0 || s.NextOKMS <= 0) {
					t.Errorf("cancel step without latencies: %+v", s)
				}
			}
			want := map[string]int{KindCall: 5, KindPhase: 1, KindFault: 2, KindGap: 1, KindCancel: 1, KindConcurrent: 3}
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%d %s steps; want %d (%v)", kinds[k], k, n, kinds)
				}
			}
			if r.Heartbeat == nil || r.Heartbeat.Ping == nil || r.Heartbeat.Ping.Count == 0 {
				t.Errorf("no heartbeat pings recorded: %+v", r.Heartbeat)
			} else if r.Heartbeat.Ping.Errors > 0 {
				t.Errorf("%d heartbeat probes failed at protocol %s", r.Heartbeat.Ping.Errors, tc.protocol)
			}
			if len(r.Phases) != 2 || r.Phases[1].Name != "faulted" {
				t.Errorf("phases %+v; want baseline and faulted", r.Phases)
			}
			if len(r.Faults) != 2 || r.Faults[1].Name != "sink" || r.Faults[1].EndMS <= r.Faults[1].StartMS {
				t.Errorf("fault windows %+v; want api (initial) and a closed sink window", r.Faults)
			}
			assertNoTemp(t, opts.TempDir)
		})
	}
}

// TestRunner_stderrModes: how the host treats the server's stderr decides
// whether synchronous stderr writes block it. 200 KiB per call is 3× the
// default pipe buffer: a host that does not read stderr blocks the server's
// write and the call never answers. With the pipe shrunk to one page, 5 KiB
// (far below the default 64 KiB) already blocks.
func TestRunner_stderrModes(t *testing.T) {
	t.Parallel()
	body := `
stderr: %s
server:
  env: {SB_TEST_SERVER: "1", SB_TEST_STDERR_BYTES: "%d"}
steps:
  - call: {tool: chat_with_o3, session: a, timeout: %s}
`
	cases := []struct {
		mode    string
		bytes   int
		timeout string
		outcome string
	}{
		{"drain", 204800, "2m", OutcomeOK},
		{"slow 1MiB/s", 204800, "2m", OutcomeOK},
		{"none", 204800, "2m", OutcomeTimeout},
		{"drain pipe 4KiB", 204800, "2m", OutcomeOK},
		{"none", 5120, "1m", OutcomeOK},
		{"none pipe 4KiB", 5120, "1m", OutcomeTimeout},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%dB", tc.mode, tc.bytes), func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t, "stdio", &stubFakes{})
			res := runAll(t, opts, mustParse(t, fmt.Sprintf(body, tc.mode, tc.bytes, tc.timeout)))
			if len(res) != 1 || len(res[0].Steps) != 1 {
				t.Fatalf("results %+v", res)
			}
			if got := res[0].Steps[0].Outcome; got != tc.outcome {
				t.Errorf("outcome %q (%s); want %q", got, res[0].Steps[0].Error, tc.outcome)
			}
			assertNoTemp(t, opts.TempDir)
		})
	}
}

func TestRunner_badServer(t *testing.T) {
	t.Parallel()
	opts := testOptions(t, "stdio", &stubFakes{})
	opts.ServerCmd = []string{"/bin/sh", "-c", "echo not an MCP server >&2; exit 3"}
	opts.StartTimeout = 5 * time.Second
	res := runAll(t, opts, mustParse(t, "steps:\n  - call: {tool: list_models}\n"))
	if len(res) != 1 || res[0].Error == "" || res[0].Verdict != reports.VerdictFail {
		t.Fatalf("results %+v; want a harness error", res)
	}
	if !strings.Contains(res[0].Error, "not an MCP server") {
		t.Errorf("error %q; want the server's stderr in it", res[0].Error)
	}
	assertNoTemp(t, opts.TempDir)
}

func TestGenerateTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := Project{Files: 4, Size: 4096, InlineFiles: 2, InlineSize: 100, Dirs: 2}
	files, err := GenerateTree(dir, p, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("%d files; want 6", len(files))
	}
	for i, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want := int64(4096)
		if i >= 4 {
			want = 100
		}
		if st.Size() != want {
			t.Errorf("%s: %d bytes; want %d", f, st.Size(), want)
		}
	}
	again := t.TempDir()
	if _, err := GenerateTree(again, p, 7); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, files[0]))
	b, _ := os.ReadFile(filepath.Join(again, files[0]))
	if string(a) != string(b) {
		t.Error("same seed produced different content")
	}
}

// The kill test runs a replay in a child process (this test binary with
// SB_TEST_RUNNER=1), kills it mid-scenario, and looks for leftovers: any
// process carrying the test's marker in its environment, any temp dir.
const envTestRunner = "SB_TEST_RUNNER"

func runTestRunner() bool {
	if os.Getenv(envTestRunner) != "1" {
		return false
	}
	exe, _ := os.Executable()
	sc, err := Parse("kill.yaml", []byte(validHead+`
server:
  env: {SB_TEST_SERVER: "1"}
steps:
  - call: {tool: list_models}
  - gap: 10m
`))
	if err != nil {
		fmt.Println("parse:", err)
		os.Exit(2)
	}
	opts := Options{TimeScale: 1, Executable: exe, TempDir: os.Getenv("SB_TEST_TEMP"),
		Fakes: func(context.Context, clock.Clock, *Scenario) (Fakes, error) { return &stubFakes{}, nil }}
	ctx, stop := signalContext()
	defer stop()
	for ev := range NewRunner(opts).Run(ctx, []*Scenario{sc}) {
		if ev.Kind == StepStarted && ev.Step.Kind == KindGap {
			fmt.Println("in-gap")
		}
	}
	fmt.Println("done")
	os.Exit(0)
	return true
}

func TestRunner_killed(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs /proc")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			marker := fmt.Sprintf("SB_TEST_MARKER=%d-%d", os.Getpid(), sig)
			exe, _ := os.Executable()
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), envTestRunner+"=1", "SB_TEST_TEMP="+tmp, marker)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			for sc.Scan() && sc.Text() != "in-gap" {
			}
			if n := len(markedProcesses(marker)); n < 2 {
				t.Errorf("%d marked processes before the kill; want the runner and its server", n)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() {
			}
			_ = cmd.Wait()
			// The server dies with the runner (process group kill, or the
			// parent-death signal after SIGKILL); give the kernel a moment.
			deadline := time.Now().Add(10 * time.Second)
			for len(markedProcesses(marker)) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if left := markedProcesses(marker); len(left) > 0 {
				t.Errorf("processes left after %v: %v", sig, left)
			}
			if sig == syscall.SIGKILL {
				// A killed runner cannot remove its temp dir; the next run
				// sweeps it.
				sweepTemp(tmp)
			}
			assertNoTemp(t, tmp)
		})
	}
}

// markedProcesses lists pids whose environment holds marker.
func markedProcesses(marker string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") {
			continue // a zombie is already dead, only not yet reaped
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == marker {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// TestRunner_wedgedStdin: a server that stops reading its stdin (its read
// loop stuck) must not hang the runner: the call's write blocks past its
// deadline, the session closes the pipe, the call fails as a step and the
// run ends with everything stopped.
func TestRunner_wedgedStdin(t *testing.T) {
	t.Parallel()
	// initialize + notifications/initialized are the two lines read; the
	// call carries 200 KiB of arguments, 3× the pipe buffer.
	sc := mustParse(t, fmt.Sprintf(`
server:
  env: {SB_TEST_SERVER: "1", SB_TEST_WEDGE_AFTER: "2"}
steps:
  - call: {tool: chat_with_o3, session: a, timeout: 1m, args: {pad: %q}}
  - call: {tool: chat_with_o3, session: b, timeout: 1m}
`, strings.Repeat("x", 200<<10)))
	opts := testOptions(t, "stdio", &stubFakes{})
	opts.NoHeartbeat = true
	start := time.Now()
	res := runAll(t, opts, sc)
	if len(res) != 1 || len(res[0].Steps) != 2 {
		t.Fatalf("results %+v", res)
	}
	if res[0].Error != "" {
		t.Errorf("harness error %q; want the wedge reported as failed steps", res[0].Error)
	}
	for _, st := range res[0].Steps {
		if st.Pass || !strings.Contains(st.Error, "stopped reading its stdin") && !strings.Contains(st.Error, "closed") {
			t.Errorf("step %d: pass %v, error %q; want a failed step naming the wedge", st.Index, st.Pass, st.Error)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the run took %v; the wedge must end within the call timeout plus a grace", d)
	}
	assertNoTemp(t, opts.TempDir)
}
