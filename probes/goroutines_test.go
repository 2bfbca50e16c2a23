package probes

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseGoroutines_table(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Goroutine
	}{
		{
			name: "wait reason with minutes and created by",
			in: `goroutine 18 [chan receive, 3 minutes]:
main.worker(0xc000010000)
	/src/main.go:12 +0x1d
created by main.main in goroutine 1
	/src/main.go:20 +0x45
`,
			want: []Goroutine{{ID: 18, State: "chan receive", Wait: 3 * time.Minute,
				Stack:     []Frame{{Func: "main.worker", File: "/src/main.go", Line: 12, Args: "0xc000010000"}},
				CreatedBy: &Frame{Func: "main.main", File: "/src/main.go", Line: 20}, CreatorID: 1}},
		},
		{
			name: "locked to thread, labels, gp/m fields, inlined and method frames",
			in: `goroutine 7 gp=0xc000007c00 m=nil [select, 12 minutes, locked to thread labels:{"path": "request", "tool": "second_brain"}]:
github.com/secondbrain-dev/secondbrain/server.(*conn).dispatch(...)
	/repo/server/stdio.go:300
github.com/secondbrain-dev/secondbrain/server.(*Stdio).Serve.func2({0x1, 0x2})
	/repo/server/stdio.go:170 +0x88 fp=0xc000 sp=0xc000 pc=0x1234
`,
			want: []Goroutine{{ID: 7, State: "select", Wait: 12 * time.Minute, LockedToThread: true,
				Labels: map[string]string{"path": "request", "tool": "second_brain"},
				Stack: []Frame{
					{Func: "github.com/secondbrain-dev/secondbrain/server.(*conn).dispatch", File: "/repo/server/stdio.go", Line: 300},
					{Func: "github.com/secondbrain-dev/secondbrain/server.(*Stdio).Serve.func2", File: "/repo/server/stdio.go", Line: 170, Args: "{0x1, 0x2}"},
				}}},
		},
		{
			name: "several goroutines, running without stack, elided frames, generics",
			in: `goroutine 1 [running]:
	goroutine running on other thread; stack unavailable

goroutine 2 [IO wait]:
internal/poll.(*FD).Write(0xc0000a4000, {0xc000200000, 0x19000, 0x19000})
	/go/src/internal/poll/fd_unix.go:384 +0x3a5
example.com/m.Map[go.shape.int](...)
	/m/map.go:5
...additional frames elided...

goroutine 3 [sync.Mutex.Lock (scan)]:
sync.(*Mutex).Lock(...)
	/go/src/sync/mutex.go:46
`,
			want: []Goroutine{
				{ID: 1, State: "running"},
				{ID: 2, State: "IO wait", Elided: true, Stack: []Frame{
					{Func: "internal/poll.(*FD).Write", File: "/go/src/internal/poll/fd_unix.go", Line: 384, Args: "0xc0000a4000, {0xc000200000, 0x19000, 0x19000}"},
					{Func: "example.com/m.Map[go.shape.int]", File: "/m/map.go", Line: 5},
				}},
				{ID: 3, State: "sync.Mutex.Lock (scan)", Stack: []Frame{
					{Func: "sync.(*Mutex).Lock", File: "/go/src/sync/mutex.go", Line: 46},
				}},
			},
		},
		{
			name: "truncated dump keeps what was read",
			in: `goroutine 5 [select]:
main.loop()
	/src/main.go:3 +0x1
goroutine 6 [chan send]:
main.send(`,
			want: []Goroutine{
				{ID: 5, State: "select", Stack: []Frame{{Func: "main.loop", File: "/src/main.go", Line: 3}}},
				{ID: 6, State: "chan send"},
			},
		},
		{
			name: "panic text before the first header",
			in:   "panic: boom\n\ngoroutine 9 [running]:\nmain.main()\n\t/m.go:1 +0x1\n",
			want: []Goroutine{{ID: 9, State: "running", Stack: []Frame{{Func: "main.main", File: "/m.go", Line: 1}}}},
		},
		{
			name: "escaped label values",
			in:   "goroutine 4 [select labels:{\"q\": \"a \\\"b\\\", c\"}]:\nmain.f()\n\t/m.go:2 +0x1\n",
			want: []Goroutine{{ID: 4, State: "select", Labels: map[string]string{"q": `a "b", c`},
				Stack: []Frame{{Func: "main.f", File: "/m.go", Line: 2}}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGoroutines([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestParseGoroutines_errors(t *testing.T) {
	if gs, err := ParseGoroutines(nil); err != nil || len(gs) != 0 {
		t.Errorf("empty input: %v, %v", gs, err)
	}
	if _, err := ParseGoroutines([]byte("<html>404 page not found</html>")); err == nil {
		t.Error("want an error for a non-dump")
	}
}

func blockedOnChan(ch chan struct{}) { <-ch }

// TestParseGoroutines_realText parses real debug=2 output of this Go
// version, with and without GODEBUG=tracebacklabels=1, and checks the
// labels either come from the header or are joined from debug=0.
func TestParseGoroutines_realText(t *testing.T) {
	for _, withLabels := range []bool{false, true} {
		name := "join-from-debug0"
		if withLabels {
			name = "tracebacklabels"
		}
		t.Run(name, func(t *testing.T) {
			if withLabels {
				t.Setenv("GODEBUG", "tracebacklabels=1") // the runtime re-reads GODEBUG
			}
			ch := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				pprof.Do(context.Background(), pprof.Labels("path", "request", "tool", "noop", "request_id", "42"),
					func(context.Context) { blockedOnChan(ch) })
			}()
			defer func() { close(ch); wg.Wait() }()
			time.Sleep(20 * time.Millisecond)
			var text, proto bytes.Buffer
			if err := pprof.Lookup("goroutine").WriteTo(&text, 2); err != nil {
				t.Fatal(err)
			}
			if err := pprof.Lookup("goroutine").WriteTo(&proto, 0); err != nil {
				t.Fatal(err)
			}
			if withLabels != strings.Contains(text.String(), "labels:{") {
				t.Fatalf("labels in header = %v; want %v", !withLabels, withLabels)
			}
			raw, err := ParseGoroutines(text.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewGoroutineDump(time.Now(), text.Bytes(), proto.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			var g *Goroutine
			for i := range d.Goroutines {
				if anyFrame(d.Goroutines[i].Stack, "probes.blockedOnChan") {
					g = &d.Goroutines[i]
				}
			}
			if g == nil {
				t.Fatalf("goroutine not found in:\n%s", text.String())
			}
			if g.State != "chan receive" || g.ID <= 0 || g.CreatedBy == nil {
				t.Errorf("parsed %+v", *g)
			}
			if f := g.Stack[0]; !strings.HasSuffix(f.File, "goroutines_test.go") || f.Line == 0 {
				t.Errorf("leaf frame = %+v", f)
			}
			want := map[string]string{"path": "request", "tool": "noop", "request_id": "42"}
			if !reflect.DeepEqual(g.Labels, want) {
				t.Errorf("labels = %v; want %v", g.Labels, want)
			}
			if p, tool := ClassifyPath(g.Labels, g.Stack); p != PathRequest || tool != "noop" {
				t.Errorf("path = %s/%s", p, tool)
			}
			if len(raw) != len(d.Goroutines) {
				t.Errorf("goroutines %d vs %d", len(raw), len(d.Goroutines))
			}
		})
	}
}

func TestJoinLabels_disagreeingSamples(t *testing.T) {
	stack := []Frame{{Func: "runtime.gopark"}, {Func: "main.wait"}}
	samples := []StackSample{
		{Count: 1, Labels: map[string]string{"path": "request", "request_id": "1"}, Stack: stack},
		{Count: 1, Labels: map[string]string{"path": "request", "request_id": "2"}, Stack: stack},
	}
	gs := []Goroutine{{ID: 1, Stack: stack[1:]}} // text dumps hide runtime frames
	JoinLabels(gs, samples)
	if want := map[string]string{"path": "request"}; !reflect.DeepEqual(gs[0].Labels, want) {
		t.Errorf("labels = %v; want %v (request_id disagrees)", gs[0].Labels, want)
	}
}

func TestSaveProfiles(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 0); err != nil {
		t.Fatal(err)
	}
	paths, err := SaveProfiles(dir+"/sub", []SavedProfile{{Name: "../step 1-goroutine.pb.gz", Data: buf.Bytes()}, {Name: "empty", Data: nil}})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || !strings.HasPrefix(paths[0], dir+"/sub/") {
		t.Fatalf("paths = %v", paths)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProfile(b); err != nil {
		t.Errorf("saved profile does not parse: %v", err)
	}
}
