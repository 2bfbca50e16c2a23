package scenarios

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/reports"
)

func TestScenarioThresholds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		block   string
		check   func(probes.Thresholds) bool
		wantErr string // substring; "" = no error
	}{
		{name: "no block keeps the defaults", block: "",
			check: func(th probes.Thresholds) bool { return reflect.DeepEqual(th, probes.DefaultThresholds()) }},
		{name: "durations and counts override", block: "thresholds:\n  ping_p99_slack: 40ms\n  min_samples: 500\n",
			check: func(th probes.Thresholds) bool {
				d := probes.DefaultThresholds()
				return th.PingP99Slack == 40*time.Millisecond && th.MinSamples == 500 && th.PingP99Max == d.PingP99Max
			}},
		{name: "unknown key names file, line and key", block: "thresholds:\n  ping_p99_slak: 40ms\n", wantErr: "ping_p99_slak"},
		{name: "bad duration names its key", block: "thresholds:\n  ping_p99_slack: soon\n", wantErr: "thresholds.ping_p99_slack"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sc, err := Parse("test.yaml", []byte(validHead+"steps:\n  - gap: 1s\n"+c.block))
			if err != nil {
				if c.wantErr != "" && strings.Contains(err.Error(), c.wantErr) {
					return // strict parsing already caught it
				}
				t.Fatalf("Parse: %v", err)
			}
			th, err := ScenarioThresholds(sc)
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, c.wantErr)
				}
				var e *Error
				if !errors.As(err, &e) || e.Line == 0 {
					t.Errorf("err %v is not an *Error with a line", err)
				}
			case err != nil:
				t.Fatal(err)
			case !c.check(th):
				t.Errorf("thresholds = %+v", th)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	t.Parallel()
	f := func(in string, want int64) {
		t.Helper()
		if got := parseVmRSS([]byte(in)); got != want {
			t.Errorf("parseVmRSS(%q) = %d; want %d", in, got, want)
		}
	}
	f("Name:\tsb\nVmRSS:\t   2048 kB\nThreads: 4\n", 2048<<10)
	f("Name:\tsb\n", -1)
	f("VmRSS:\n", -1)
	f("VmRSS: lots kB\n", -1)
}

func TestWithGODEBUG(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want []string
	}{
		{[]string{"A=1"}, []string{"A=1", "GODEBUG=tracebacklabels=1"}},
		{[]string{"GODEBUG=x=1", "B=2"}, []string{"GODEBUG=x=1,tracebacklabels=1", "B=2"}},
		{[]string{"GODEBUG="}, []string{"GODEBUG=tracebacklabels=1"}},
	}
	for _, c := range cases {
		if got := withGODEBUG(append([]string(nil), c.in...), "tracebacklabels=1"); !reflect.DeepEqual(got, c.want) {
			t.Errorf("withGODEBUG(%v) = %v; want %v", c.in, got, c.want)
		}
	}
}

func TestSinkFaulted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       bool
	}{
		{"none", "steps:\n  - gap: 1s\n", false},
		{"initial", "faults:\n  sink: {delay: 1s}\nsteps:\n  - gap: 1s\n", true},
		{"api only", "faults:\n  api: {upload_latency: 1s}\nsteps:\n  - gap: 1s\n", false},
		{"step", "steps:\n  - fault: {sink: {stall: 2s}}\n", true},
		{"in a repeat", "steps:\n  - repeat: {times: 2, steps: [{fault: {sink: {hang: true}}}]}\n", true},
	}
	for _, c := range cases {
		sc := mustParse(t, c.body)
		if got := sinkFaulted(sc); got != c.want {
			t.Errorf("%s: sinkFaulted = %v; want %v", c.name, got, c.want)
		}
	}
}

func TestIdleConnLoops(t *testing.T) {
	t.Parallel()
	d := &probes.GoroutineDump{Goroutines: []probes.Goroutine{
		{ID: 1, Stack: []probes.Frame{{Func: "net/http.(*persistConn).readLoop"}}},
		{ID: 2, Stack: []probes.Frame{{Func: "net/http.(*persistConn).writeLoop"}}},
		{ID: 3, Stack: []probes.Frame{{Func: "runtime.gopark"}, {Func: "net/http.(*persistConn).readLoop"}}},
		{ID: 4, Stack: []probes.Frame{{Func: "main.main"}}},
	}}
	if got := idleConnLoops(d); got != 2 {
		t.Errorf("idleConnLoops = %d; want 2", got)
	}
}

func TestFdTargets(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "42", "fd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"0": "pipe:[1]", "1": "pipe:[2]", "3": "/tmp/x/secondbrain.db", "4": "/tmp/x/secondbrain.db",
		"5": "/tmp/x/secondbrain.db", "6": "socket:[9]",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	count, err := readFDTargets(root, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := formatFDTargets(count), "/tmp/x/secondbrain.db ×3, pipe ×2, socket ×1"; got != want {
		t.Errorf("formatFDTargets = %q; want %q", got, want)
	}
	if _, err := readFDTargets(root, 0); err == nil || !strings.Contains(err.Error(), "no pid") {
		t.Errorf("readFDTargets without a pid: %v", err)
	}
}

func TestFailed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		res  reports.Scenario
		want bool
	}{
		{"all pass", reports.Scenario{Steps: []reports.Step{{Pass: true}}, Checks: []reports.Check{{Pass: true}}}, false},
		{"a step", reports.Scenario{Steps: []reports.Step{{Pass: false}}}, true},
		{"a check", reports.Scenario{Checks: []reports.Check{{Pass: true}, {Pass: false}}}, true},
		{"empty", reports.Scenario{}, false},
	}
	for _, c := range cases {
		if got := reports.Failed(&c.res); got != c.want {
			t.Errorf("%s: failed = %v; want %v", c.name, got, c.want)
		}
	}
}

// TestRuntimeSource_fallback: a debug listener without /debug/runtime is
// read from the goroutine profile's total and /proc.
func TestRuntimeSource_fallback(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/goroutine", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("debug") != "1" {
			http.Error(w, "want debug=1", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("goroutine profile: total 17\n3 @ 0x1 0x2\n"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dc := probes.NewDebugClient(srv.URL, nil)
	defer dc.Close()

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "7", "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"0", "1", "2"} {
		if err := os.Symlink("pipe:[1]", filepath.Join(root, "7", "fd", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "7", "status"), []byte("VmRSS:\t100 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := newRuntimeSource(dc, 7)
	rs.procRoot = root
	got, err := rs.Runtime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Fallback() || got.Goroutines != 17 || got.OpenFDs != 3 || got.RSSBytes != 100<<10 {
		t.Errorf("runtime = %+v (fallback %v); want 17 goroutines, 3 fds, 100 KiB", got, rs.Fallback())
	}
}

func TestUnexplained(t *testing.T) {
	t.Parallel()
	lag := 3 * time.Millisecond
	cases := []struct {
		name string
		res  reports.Scenario
		want string // substring; "" = nothing unexplained
	}{
		{"all pass", reports.Scenario{Checks: []reports.Check{{Name: "heartbeat.ping.p99", Unit: "ms", Pass: true}}}, ""},
		{"within the lag", reports.Scenario{Checks: []reports.Check{
			{Name: "heartbeat.ping.p99_vs_baseline", Unit: "ms", Value: 24, Threshold: 22, Pass: false}}}, ""},
		{"beyond the lag", reports.Scenario{Checks: []reports.Check{
			{Name: "heartbeat.ping.max", Unit: "ms", Value: 1500, Threshold: 1000, Pass: false}}}, "heartbeat.ping.max"},
		{"not a latency check", reports.Scenario{Checks: []reports.Check{
			{Name: "heartbeat.noop.timeouts", Unit: "count", Value: 1, Threshold: 0, Pass: false}}}, "noop.timeouts"},
		{"not heartbeat", reports.Scenario{Checks: []reports.Check{
			{Name: "leak.goroutines", Unit: "count", Value: 1, Threshold: 0, Pass: false}}}, "leak.goroutines"},
		{"a step", reports.Scenario{Steps: []reports.Step{{Index: 4, Name: "next-query", Pass: false}}}, "step 4 next-query"},
	}
	for _, c := range cases {
		got := unexplained(&c.res, func(c reports.Check) bool { return latencyExplained(c, lag, 0) })
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: unexplained = %q; want %q", c.name, got, c.want)
		}
	}
}

// On a shared machine a latency check may exceed its limit by as much as
// the server's goroutines waited for a CPU, and no more: a real stall
// (hundreds of ms, while the CPU waits stay short) still fails.
func TestLatencyExplained_sharedMachine(t *testing.T) {
	t.Parallel()
	f := func(c reports.Check, lag, cpuWait time.Duration, want bool) {
		t.Helper()
		if got := latencyExplained(c, lag, cpuWait); got != want {
			t.Errorf("latencyExplained(%s %.1f vs %.1f, lag %v, cpu wait %v) = %v; want %v", c.Name, c.Value, c.Threshold, lag, cpuWait, got, want)
		}
	}
	p99 := reports.Check{Name: "heartbeat.ping.p99_vs_baseline", Unit: "ms", Value: 29.3, Threshold: 22.9}
	f(p99, 0, 0, false)
	f(p99, 0, 21*time.Millisecond, true)
	f(p99, 0, 5*time.Millisecond, false)
	f(p99, 7*time.Millisecond, 0, true)
	stall := reports.Check{Name: "heartbeat.ping.p99", Unit: "ms", Value: 250.7, Threshold: 50}
	f(stall, time.Millisecond, 21*time.Millisecond, false)
	f(reports.Check{Name: "leak.goroutines", Unit: "count", Value: 3, Threshold: 0}, time.Hour, time.Hour, false)
}

func TestExplainCheck(t *testing.T) {
	t.Parallel()
	diag := func() *reports.Diagnosis {
		return &reports.Diagnosis{Cause: probes.CauseSemaphoreHeld, Culprit: "vectorstore.(*Manager).upload (upload.go:469)",
			Frames: []reports.Culprit{
				{Frame: "vectorstore.(*Manager).upload (upload.go:469)", Cause: probes.CauseSemaphoreHeld, WaitMS: 900},
				{Frame: "logship.(*shipCore).post (shipper.go:502)", Cause: probes.CauseLogShippingIO, WaitMS: 300, Source: "block"},
			}}
	}
	cases := []struct {
		name   string
		checks []reports.Check
		want   string
	}{
		{"log wait check failed", []reports.Check{{Name: "logs.request_path_waits", Pass: false}}, probes.CauseLogShippingIO},
		{"log wait check passed", []reports.Check{{Name: "logs.request_path_waits", Pass: true}}, probes.CauseSemaphoreHeld},
		{"another check failed", []reports.Check{{Name: "leak.fds", Pass: false}}, probes.CauseSemaphoreHeld},
	}
	for _, c := range cases {
		res := &reports.Scenario{Checks: c.checks, Diagnosis: diag()}
		explainCheck(res)
		if res.Diagnosis.Cause != c.want {
			t.Errorf("%s: cause %s; want %s", c.name, res.Diagnosis.Cause, c.want)
		}
	}
}

func TestExplainCheck_heartbeat(t *testing.T) {
	t.Parallel()
	diag := func() *reports.Diagnosis {
		return &reports.Diagnosis{Cause: probes.CauseConnPool, Culprit: "vectorstore.(*Manager).upload.func2 (upload.go:479)",
			Frames: []reports.Culprit{
				{Frame: "vectorstore.(*Manager).upload.func2 (upload.go:479)", Cause: probes.CauseConnPool, WaitMS: 900},
				{Frame: "faults.(*workerPool).submit (dispatch.go:54)", Cause: probes.CauseWorkerPool, WaitMS: 300},
			}}
	}
	hb := []reports.Check{{Name: "heartbeat.ping.p99", Pass: false}}
	res := &reports.Scenario{Checks: hb, Diagnosis: diag()}
	explainCheck(res)
	if res.Diagnosis.Cause != probes.CauseWorkerPool {
		t.Errorf("heartbeat only: cause %s; want %s", res.Diagnosis.Cause, probes.CauseWorkerPool)
	}
	// A failed step (a call that timed out) may well be upstream's doing.
	res = &reports.Scenario{Checks: hb, Steps: []reports.Step{{Pass: false}}, Diagnosis: diag()}
	explainCheck(res)
	if res.Diagnosis.Cause != probes.CauseConnPool {
		t.Errorf("with a failed step: cause %s; want %s", res.Diagnosis.Cause, probes.CauseConnPool)
	}
}

func TestInboundConn(t *testing.T) {
	t.Parallel()
	for created, want := range map[string]bool{
		"http.(*Server).Serve (server.go:3464)":                  true,
		"http.(*connReader).startBackgroundRead (server.go:698)": true,
		"server.(*Server).handleMCP (http.go:120)":               false,
		"http.(*Transport).dialConn (transport.go:1944)":         false,
		"http.(*Server).ServeTLSSomethingElse (server.go:1)":     false,
	} {
		if got := inboundConn(created); got != want {
			t.Errorf("inboundConn(%q) = %v; want %v", created, got, want)
		}
	}
}

// Descriptors are counted by target: a file by its path.
func TestReadFDTargets(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc")
	}
	path := filepath.Join(t.TempDir(), "held.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := readFDTargets("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got[path] != 1 {
		t.Fatalf("targets %v: want %s once", got, path)
	}
	if _, err := readFDTargets("/proc", 0); err == nil {
		t.Fatal("no pid: want an error")
	}
}

func TestUnderFault(t *testing.T) {
	faults := []reports.FaultWindow{{Name: "sink", StartMS: 100, EndMS: 200}, {Name: "api", StartMS: 500, EndMS: -1}}
	for _, tc := range []struct {
		start, latency float64
		want           bool
	}{
		{0, 50, false},    // before
		{50, 100, true},   // into the window
		{150, 10, true},   // inside
		{190, 200, true},  // out of it
		{200, 100, false}, // after it closed
		{300, 100, false}, // between
		{450, 100, true},  // into the window still open
		{900, 10, true},   // inside it
	} {
		if got := underFault(reports.Step{StartMS: tc.start, LatencyMS: tc.latency}, faults); got != tc.want {
			t.Errorf("step %v+%v: under a fault = %v; want %v", tc.start, tc.latency, got, tc.want)
		}
	}
}
