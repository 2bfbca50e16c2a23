package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An invalid run (the harness fell behind: here a send-lag bound no prober
// can meet) is replayed --retry-invalid more times, the attempts are noted,
// and the result still says invalid (exit 3) when every attempt was.
// Only the validity bound is tight; every latency cap is out of reach, so
// no attempt can fail instead.
func TestReplay_retriesInvalidOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a scenario twice against the real server")
	}
	t.Setenv("SB_RUN_MAIN", "1")
	file := filepath.Join(t.TempDir(), "always-invalid.yaml")
	if err := os.WriteFile(file, []byte(`name: always-invalid
description: A scenario whose prober can never be on time, so every run is invalid.
source: {seed: 001_d5362377638e66bf.txt, quote: "The hang occurs at the very start of"}
project: {files: 4, size: 1KiB, inline_files: 4, inline_size: 1KiB}
# Only validity may judge this run: under -race on a loaded machine its
# pings can be slow enough to fail a latency cap, which would make it a
# failure, not an invalid run.
thresholds: {send_lag_p99_max: 1ns, ping_p99_slack: 1h, ping_p99_max: 1h, ping_p999_max: 1h,
  ping_stall_max: 1h, noop_p99_slack: 1h, noop_p99_max: 1h, noop_timeouts_max: 1000000,
  logger_cost_p99_max: 1h, logger_cost_max: 1h}
steps:
  - phase: baseline
  - call: {name: only, tool: chat_with_o3, session: retry-001}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	o := testReplayOpts(t.TempDir(), "stdio")
	o.baselineHold = 300 * time.Millisecond
	o.retryInvalid = 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := replay(ctx, o, []string{file}, &stdout, &stderr)
	if code := exitCode(err); code != exitInvalid {
		t.Fatalf("exit %d (%v), want %d (invalid)\n%s", code, err, exitInvalid, stdout.String())
	}
	if n := strings.Count(stdout.String(), "always-invalid: start"); n != 2 {
		t.Errorf("scenario started %d times, want 2 (one retry)\n%s", n, stdout.String())
	}
	b, rerr := os.ReadFile(filepath.Join(o.out, "result.json"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !strings.Contains(string(b), "replayed (attempt 2): the previous attempt was invalid: prober send lag") {
		t.Errorf("result.json does not note the replayed attempt:\n%.2000s", b)
	}
}
