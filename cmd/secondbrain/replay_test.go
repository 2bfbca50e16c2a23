package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/internal/testlock"
	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/scenarios"
)

func testReplayOpts(out, transport string) replayOpts {
	return replayOpts{
		timeScale: 60, out: out, seed: 1, transport: transport,
		heartbeat: testPingInterval, noop: testNoopInterval,
		baselineHold: baselineHoldFor(testPingInterval),
		dumpEvery:    scenarios.DefaultDumpEvery, breach: probes.DefaultBreachThreshold,
	}
}

// TestReplay_e2e replays one short catalog scenario through the real
// server (this test binary runs main() as `serve` when SB_RUN_MAIN=1, the
// runner's default executable) over both transports, and checks the
// verdict machinery end to end: every kind of check is present, each
// passes, the run is valid, and result.json carries the fakes' counts.
func TestReplay_e2e(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a scenario against the real server (~10 s per transport)")
	}
	testlock.Heavy(t) // it reads the server's debug endpoints within their timeouts
	t.Setenv("SB_RUN_MAIN", "1")
	for _, tr := range []string{"stdio", "http"} {
		t.Run(tr, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := replay(ctx, testReplayOpts(out, tr), []string{"session-continue"}, &stdout, &stderr)
			b, rerr := os.ReadFile(filepath.Join(out, "result.json"))
			if rerr != nil {
				t.Fatalf("replay: %v; no result.json: %v\n%s", err, rerr, stdout.String())
			}
			var res reports.Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Scenarios) != 1 {
				t.Fatalf("%d scenarios in the result; want 1", len(res.Scenarios))
			}
			sc := res.Scenarios[0]
			// Latency checks are reported, not asserted: under -race the
			// server (this instrumented binary) and the prober run several
			// times slower on a shared 2-core box, which the run's validity
			// says (exit 3). A call's time budgets are too (its stall, its
			// own share, a repeat against its first): with every test
			// package running beside it, a call once made no progress for
			// 2.06 s (limit 2 s) while the prober woke 717 ms late, and a
			// first query's own share took 2.87 s (limit 2.5 s) while it
			// woke 270 ms late. Everything else must pass.
			have := map[string]bool{}
			for _, c := range sc.Checks {
				have[c.Name] = true
				switch {
				case c.Pass:
				case isLatencyCheck(c.Name):
					t.Logf("latency check %s [%s]: %g %s %g (not asserted)", c.Name, c.Phase, c.Value, c.Op, c.Threshold)
				default:
					t.Errorf("check %s [%s] failed: %g %s %g (%s)", c.Name, c.Phase, c.Value, c.Op, c.Threshold, c.Detail)
				}
			}
			for _, st := range sc.Steps {
				if !st.Pass {
					t.Errorf("step %d %s: %s (want %s) %s", st.Index, st.Name, st.Outcome, st.Expected, st.Error)
				}
			}
			for _, want := range []string{"heartbeat.ping.p99", "heartbeat.ping.p999", "heartbeat.ping.max",
				"heartbeat.noop.p99", "heartbeat.noop.timeouts", "leak.goroutines", "leak.fds",
				"logs.unaccounted", "logs.healthy_sink_dropped", "logs.request_path_waits"} {
				if !have[want] {
					t.Errorf("check %s missing; have %v", want, have)
				}
			}
			if sc.Invalid != "" {
				t.Logf("run invalid (the machine or -race slowed the prober): %s", sc.Invalid)
			}
			if sc.Heartbeat == nil || sc.Heartbeat.Ping == nil || sc.Heartbeat.Ping.Count < 1000 {
				t.Errorf("heartbeat %+v; want >= 1000 pings", sc.Heartbeat)
			}
			if sc.Fakes["api.responses_created"] < 2 || sc.Fakes["sink.records_received"] == 0 {
				t.Errorf("fake-side counts %v; want the two responses and shipped logs", sc.Fakes)
			}
			if sc.Logs == nil || sc.Logs.Emitted == 0 || sc.Logs.Emitted != sc.Logs.Delivered+sc.Logs.Dropped+sc.Logs.Pending {
				t.Errorf("log account %+v", sc.Logs)
			}
			if len(sc.Goroutines) == 0 || len(sc.OpenFDs) == 0 {
				t.Errorf("no runtime series: goroutines %d points, fds %d", len(sc.Goroutines), len(sc.OpenFDs))
			}
			switch {
			case sc.Verdict == reports.VerdictPass && err == nil:
			case sc.Verdict == reports.VerdictInvalid && exitCode(err) == exitInvalid:
			case sc.Verdict == reports.VerdictFail && onlyLatencyFailed(sc) && exitCode(err) == exitFail:
				t.Logf("failed on latency only (not asserted): %v", err)
			default:
				t.Errorf("replay = %v (exit %d), verdict %s, notes %v\n%s", err, exitCode(err), sc.Verdict, sc.Notes, stdout.String())
			}
			if !strings.Contains(stdout.String(), "session-continue") {
				t.Errorf("no table printed:\n%s", stdout.String())
			}
		})
	}
	goleak.VerifyNone(t)
}

func TestBaselineHoldFor(t *testing.T) {
	t.Parallel()
	f := func(iv, want time.Duration) {
		t.Helper()
		if got := baselineHoldFor(iv); got != want {
			t.Errorf("baselineHoldFor(%v) = %v; want %v", iv, got, want)
		}
	}
	f(5*time.Millisecond, 5500*time.Millisecond)
	f(20*time.Millisecond, 22*time.Second)
	f(0, 0)
	f(-1, 0)
}

func TestReplay_badUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown canary", []string{"--canaries", "back-to-back"}, "unknown canary"},
		{"canaries with --all", []string{"--canaries", "--all"}, "--canaries runs its own scenarios"},
		{"names and --all", []string{"--all", "back-to-back"}, "not both"},
		{"unknown scenario", []string{"no-such-scenario"}, "unknown scenario"},
		{"bad transport", []string{"--transport", "smoke", "back-to-back"}, "--transport"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cmd := newRootCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"replay", "--out", ""}, c.args...))
			err := cmd.ExecuteContext(context.Background())
			if exitCode(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v (exit %d); want exit 2 with %q", err, exitCode(err), c.want)
			}
		})
	}
}

// onlyLatencyFailed reports whether every failed check is a heartbeat
// latency check and no step failed.
func onlyLatencyFailed(sc reports.Scenario) bool {
	for _, st := range sc.Steps {
		if !st.Pass {
			return false
		}
	}
	for _, c := range sc.Checks {
		if !c.Pass && !isLatencyCheck(c.Name) {
			return false
		}
	}
	return true
}

// isLatencyCheck tells the checks that judge time alone: the heartbeat's
// and a call's time budgets (call.stall, call.server_ms, call.repeat_ms).
func isLatencyCheck(name string) bool {
	return strings.HasPrefix(name, "heartbeat.") || strings.HasPrefix(name, "call.")
}
