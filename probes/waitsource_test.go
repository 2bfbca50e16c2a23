package probes

import (
	"os"
	"path/filepath"
	"testing"
)

const selectsSrc = `package x

func f(ctx interface{ Done() <-chan struct{} }, sem chan struct{}, res chan int) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
	}
	select {
	case <-res:
	case <-ctx.Done():
	}
	select {
	case v := <-res:
		_ = v
	default:
		select { case res <- 1: }
	}
}
`

func TestSources_SelectSends(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.go")
	if err := os.WriteFile(file, []byte(selectsSrc), 0o600); err != nil {
		t.Fatal(err)
	}
	src := NewSources()
	tests := []struct {
		name             string
		f                Frame
		wantSend, wantOK bool
	}{
		{"a send case", Frame{File: file, Line: 4}, true, true},
		{"receives only", Frame{File: file, Line: 8}, false, true},
		{"outer select: receive and default", Frame{File: file, Line: 12}, false, true},
		{"nested select on one line", Frame{File: file, Line: 16}, true, true},
		{"no select at the line", Frame{File: file, Line: 5}, false, false},
		{"unreadable file", Frame{File: filepath.Join(dir, "gone.go"), Line: 4}, false, false},
		{"no file", Frame{Line: 4}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send, ok := src.SelectSends(tt.f)
			if send != tt.wantSend || ok != tt.wantOK {
				t.Errorf("SelectSends = %v, %v; want %v, %v", send, ok, tt.wantSend, tt.wantOK)
			}
		})
	}
	var nilSrc *Sources
	if _, ok := nilSrc.SelectSends(Frame{File: file, Line: 4}); ok {
		t.Error("a nil Sources read the file")
	}
}

// TestClassifyWait_selects: a select is a send wait by its statement,
// whatever its function is called.
func TestClassifyWait_selects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.go")
	if err := os.WriteFile(file, []byte(selectsSrc), 0o600); err != nil {
		t.Fatal(err)
	}
	src := NewSources()
	at := func(line int) []Frame {
		return []Frame{{Func: sb + "server.(*T).anything", File: file, Line: line}, {Func: sb + "server.(*conn).dispatch", File: file, Line: 99}}
	}
	tests := []struct {
		state string
		stack []Frame
		want  string
	}{
		{"select", at(4), causeSendWait},
		{"select", at(8), CauseUnknown},
		{"", append([]Frame{{Func: "runtime.selectgo"}}, at(4)...), causeSendWait}, // a block-profile stack
		{"", append([]Frame{{Func: "runtime.selectgo"}}, at(8)...), CauseUnknown},
		{"chan send", at(30), causeSendWait},
		{"chan receive", at(30), CauseUnknown},
	}
	for _, tt := range tests {
		if got := classifyWait(tt.state, tt.stack, src); got != tt.want {
			t.Errorf("classifyWait(%q, line %d) = %q; want %q", tt.state, tt.stack[len(tt.stack)-2].Line, got, tt.want)
		}
	}
}
