package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const validHead = `name: demo
description: |
  A demo scenario.
  Second line.
source:
  seed: 000_4f7063dbac3f3e1a.txt
  quote: "First query: Always successful"
`

func TestParse_valid(t *testing.T) {
	t.Parallel()
	in := validHead + `
transport: stdio
stderr: slow 2KiB/s
server:
  log_level: info
  args: [--foo]
project: {files: 90, size: 48KiB, inline_files: 20, inline_size: 2KiB, dirs: 6}
faults:
  sink: {delay: 250ms}
thresholds:
  heartbeat_p99_ms: 50
steps:
  - phase: baseline
  - call: {tool: chat_with_o3, session: s1, progress: true}
  - gap: 3m
  - fault: {api: {throttle: {factor: 7, after_uploads: 10, recovery: 4m}}, for: 4m}
  - call: {tool: chat_with_o3, session: s1, context: [], background: true, expect: cancelled}
  - cancel: {after: 8.6s}
  - concurrent: {count: 3, call: {tool: list_models}}
  - repeat: {times: 2, steps: [{gap: 30s}, {call: {tool: chat_with_o3, session: s2}}]}
  - wait: {}
  - load:
      name: hosts
      start_rate: 0
      stages: [{duration: 2s, rate: 50}, {duration: 3s, rate: 50}]
      sessions: 4
      mix:
        - {weight: 3, call: {tool: chat_with_o3, context: []}}
        - {call: {tool: chat_with_o3}}
      thresholds: {p99: 2s, min_rate: 10}
`
	sc, err := Parse("demo.yaml", []byte(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := sc.Summary(), "A demo scenario."; got != want {
		t.Errorf("Summary = %q; want %q", got, want)
	}
	if got, want := sc.Stderr, (StderrMode{Mode: StderrSlow, BytesPerSec: 2048}); got != want {
		t.Errorf("Stderr = %+v; want %+v", got, want)
	}
	if got, want := sc.Project.Size, Size(48<<10); got != want {
		t.Errorf("Project.Size = %d; want %d", got, want)
	}
	if got, want := sc.RealLength(), 3*time.Minute+8600*time.Millisecond+time.Minute; got != want {
		t.Errorf("RealLength = %v; want %v", got, want)
	}
	if got := len(sc.Steps); got != 10 {
		t.Fatalf("len(Steps) = %d; want 10", got)
	}
	if c := sc.Steps[4].Call; c.Context == nil || len(*c.Context) != 0 || !c.Background {
		t.Errorf("no-context background call parsed as %+v", c)
	}
	if l := sc.Steps[9].Load; l == nil || l.LoadName() != "hosts" || l.Profile().Expected() != 200 || l.SessionCount() != 4 ||
		l.InFlight() != DefaultLoadInFlight || l.mixEntries()[0].Name != "chat_with_o3" || l.mixEntries()[1].Name != "chat_with_o3+context" {
		t.Errorf("load step parsed as %+v", l)
	}
	var th map[string]float64
	if err := sc.DecodeThresholds(&th); err != nil || th["heartbeat_p99_ms"] != 50 {
		t.Errorf("DecodeThresholds = %v, %v", th, err)
	}
	var strict struct {
		Other int `yaml:"other"`
	}
	err = sc.DecodeThresholds(&strict)
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 18 || pe.Key != "thresholds.heartbeat_p99_ms" {
		t.Errorf("DecodeThresholds into a strict struct: err = %v; want line 18 key thresholds.heartbeat_p99_ms", err)
	}
}

func TestParse_malformed(t *testing.T) {
	t.Parallel()
	steps := "steps:\n  - call: {tool: chat_with_o3}\n"
	cases := []struct {
		name string
		in   string
		line int
		key  string
		msg  string
	}{
		{"unknown top-level key", validHead + "colour: red\n" + steps, 8, "colour", "unknown field"},
		{"unknown step key", validHead + "steps:\n  - call: {tool: chat_with_o3, sesion: a}\n", 9, "steps[0].call.sesion", "unknown field"},
		{"unknown step kind", validHead + "steps:\n  - sleep: 3m\n", 9, "steps[0].sleep", "unknown field"},
		{"bad duration", validHead + "steps:\n  - gap: 3 minutes\n", 9, "steps[0].gap", "bad duration"},
		{"negative duration", validHead + "steps:\n  - gap: -3s\n", 9, "steps[0].gap", "negative duration"},
		{"zero gap", validHead + "steps:\n  - gap: 0s\n", 9, "steps[0].gap", "gap must be > 0"},
		{"bad expect", validHead + "steps:\n  - call: {tool: chat_with_o3, expect: maybe}\n", 9, "steps[0].call.expect", "unknown outcome"},
		{"wrong type", validHead + "steps:\n  - concurrent: {count: many, call: {tool: x}}\n", 9, "steps[0].concurrent.count", "cannot unmarshal"},
		{"two kinds in one step", validHead + "steps:\n  - gap: 3m\n    call: {tool: chat_with_o3}\n", 9, "steps[0]", "exactly one"},
		{"empty step", validHead + "steps:\n  - {}\n", 9, "steps[0]", "empty step"},
		{"missing tool", validHead + "steps:\n  - call: {session: a}\n", 9, "steps[0].call.tool", "missing tool"},
		{"bad stderr mode", validHead + "stderr: sometimes\n" + steps, 8, "stderr", "unknown stderr mode"},
		{"bad stderr rate", validHead + "stderr: slow fast\n" + steps, 8, "stderr", "bad rate"},
		{"bad stderr pipe size", validHead + "stderr: none pipe tiny\n" + steps, 8, "stderr", "bad pipe size"},
		{"bad size", validHead + "project: {files: 3, size: huge}\n" + steps, 8, "project.size", "bad size"},
		{"duplicate key", validHead + "name: again\n" + steps, 8, "name", "already defined"},
		{"missing name", strings.Replace(validHead, "name: demo\n", "", 1) + steps, 0, "name", "missing scenario name"},
		{"missing source", strings.Split(validHead, "source:")[0] + steps, 0, "source", "missing source"},
		{"no steps", validHead, 0, "steps", "at least one step"},
		{"bad transport", validHead + "transport: carrier-pigeon\n" + steps, 8, "transport", "unknown transport"},
		{"bad clear side", validHead + "steps:\n  - fault: {clear: [db]}\n", 9, "steps[0].fault.clear[0]", "unknown side"},
		{"bad sink status", validHead + "faults: {sink: {status: 200}}\n" + steps, 8, "faults.sink.status", "not a server error"},
		{"bad nested repeat", validHead + "steps:\n  - repeat:\n      times: 2\n      steps:\n        - gap: soon\n", 12, "steps[0].repeat.steps[0].gap", "bad duration"},
		{"zero repeat", validHead + "steps:\n  - repeat: {times: 0, steps: [{gap: 1s}]}\n", 9, "steps[0].repeat.times", "times must be"},
		{"escaping context", validHead + "steps:\n  - call: {tool: chat_with_o3, context: [../etc]}\n", 9, "steps[0].call.context[0]", "stay inside"},
		{"reserved arg", validHead + "steps:\n  - call: {tool: chat_with_o3, args: {session_id: x}}\n", 9, "steps[0].call.args.session_id", "call's own key"},
		{"syntax error", validHead + "steps: [\n", 8, "", "not found"},
		{"not a mapping", "- just\n- a list\n", 1, "", "must be a mapping"},
		{"empty file", "", 1, "", "empty scenario"},
		{"bad log level", validHead + "server: {log_level: loud}\n" + steps, 8, "server.log_level", "unknown log level"},
		{"thresholds not a mapping", validHead + "thresholds: 5\n" + steps, 8, "thresholds", "must be a mapping"},
		{"rule without count", validHead + "faults: {api: {rate_limit: {retry_after: 2s}}}\n" + steps, 8, "faults.api.rate_limit", "needs count"},
		{"bad phase", validHead + "steps:\n  - phase: Base Line\n", 9, "steps[0].phase", "bad phase name"},
		{"load without mix", validHead + "steps:\n  - load: {rate: 10, duration: 1s}\n", 9, "steps[0].load.mix", "mix of at least one call"},
		{"load without rate", validHead + "steps:\n  - load: {mix: [{call: {tool: list_models}}]}\n", 9, "steps[0].load", "bad rate profile"},
		{"load rate and stages", validHead + "steps:\n  - load: {rate: 5, duration: 1s, stages: [{duration: 1s, rate: 9}], mix: [{call: {tool: list_models}}]}\n", 9, "steps[0].load", "not both"},
		{"load negative rate", validHead + "steps:\n  - load: {rate: -5, duration: 1s, mix: [{call: {tool: list_models}}]}\n", 9, "steps[0].load.rate", "rates must be"},
		{"load same call twice", validHead + "steps:\n  - load: {rate: 5, duration: 1s, mix: [{call: {tool: list_models}}, {call: {tool: list_models}}]}\n", 9, "steps[0].load.mix", "used twice"},
		{"load background call", validHead + "steps:\n  - load: {rate: 5, duration: 1s, mix: [{call: {tool: list_models, background: true}}]}\n", 9, "steps[0].load.mix[0].call", "cannot be background"},
		{"load bad search", validHead + "steps:\n  - load: {mix: [{call: {tool: list_models}}], find_limit: {start: 100, max: 50, trial: 1s}}\n", 9, "steps[0].load.find_limit.max", "max must be"},
		{"load search with a rate", validHead + "steps:\n  - load: {rate: 5, duration: 1s, mix: [{call: {tool: list_models}}], find_limit: {start: 10, max: 50, trial: 1s}}\n", 9, "steps[0].load.find_limit", "own rates"},
		{"load search NaN max", validHead + "steps:\n  - load: {mix: [{call: {tool: list_models}}], find_limit: {start: 10, max: .nan, trial: 1s}}\n", 9, "steps[0].load.find_limit.max", "max must be"},
		{"load search empty trial", validHead + "steps:\n  - load: {mix: [{call: {tool: list_models}}], find_limit: {start: 1, max: 50, trial: 100ms}}\n", 9, "steps[0].load.find_limit.trial", "holds no call"},
		{"load bad ratio", validHead + "steps:\n  - load: {rate: 5, duration: 1s, mix: [{call: {tool: list_models}}], thresholds: {error_ratio: 2}}\n", 9, "steps[0].load.thresholds", "between 0 and 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("bad.yaml", []byte(tc.in))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v (%T); want *Error", err, err)
			}
			if pe.File != "bad.yaml" {
				t.Errorf("File = %q; want bad.yaml", pe.File)
			}
			if tc.line != 0 && pe.Line != tc.line {
				t.Errorf("Line = %d; want %d (%v)", pe.Line, tc.line, err)
			}
			if pe.Key != tc.key {
				t.Errorf("Key = %q; want %q (%v)", pe.Key, tc.key, err)
			}
			if !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("Msg = %q; want it to contain %q", pe.Msg, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml:") {
				t.Errorf("Error() = %q; want it to start with the file", err.Error())
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	f := func(in string, want int64, wantErr bool) {
		t.Helper()
		got, err := ParseSize(in)
		if (err != nil) != wantErr || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, err=%v", in, got, err, want, wantErr)
		}
	}
	f("512", 512, false)
	f("4KiB", 4096, false)
	f("1.5MiB", 1572864, false)
	f("2KB", 2000, false)
	f("10B", 10, false)
	f("lots", 0, true)
	f("-1KiB", 0, true)
}
