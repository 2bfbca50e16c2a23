package probes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sync"
)

// Sources tells, from the Go source a frame points at, what a goroutine
// parked in a select waits to do. A goroutine dump gives a select's wait
// reason ("select") but not its cases, and those say what kind of wait it
// is: a select with a send case waits to hand something over — a slot
// into a full channel, a job to a worker — where one with receives only
// waits for a result, a signal or a timer. The file and line of the frame
// are enough to find the statement; the server's source is on this
// machine when the harness built or runs it. When it is not (a binary
// built elsewhere, -trimpath), the wait stays unexplained.
//
// A Sources caches what it parsed; it is safe for concurrent use. The zero
// value is not usable: use [NewSources].
type Sources struct {
	mu    sync.Mutex
	files map[string]map[int]bool // file → line of a select → has a send case; nil: unreadable
}

// NewSources returns an empty cache.
func NewSources() *Sources {
	return &Sources{files: map[string]map[int]bool{}}
}

// SelectSends reports whether the select statement at f's line has a send
// case; known is false when the file cannot be read or parsed or holds no
// select at that line.
func (s *Sources) SelectSends(f Frame) (sends, known bool) {
	if s == nil || f.File == "" || f.Line <= 0 {
		return false, false
	}
	s.mu.Lock()
	lines, seen := s.files[f.File]
	s.mu.Unlock()
	if !seen {
		lines = parseSelects(f.File) // disk I/O outside the lock
		s.mu.Lock()
		s.files[f.File] = lines
		s.mu.Unlock()
	}
	sends, known = lines[f.Line]
	return sends, known
}

// parseSelects maps the line of each select statement of a Go file to
// whether it has a send case; nil when the file cannot be parsed.
func parseSelects(path string) map[int]bool {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	lines := map[int]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectStmt)
		if !ok {
			return true
		}
		send := false
		for _, c := range sel.Body.List {
			if cc, ok := c.(*ast.CommClause); ok {
				if _, isSend := cc.Comm.(*ast.SendStmt); isSend {
					send = true
				}
			}
		}
		lines[fset.Position(sel.Select).Line] = send
		return true
	})
	return lines
}

// sendWait reports whether a goroutine waits to send on a channel: its
// state says so, or it is parked in a select (state "select", or a
// profile stack through runtime.selectgo) whose statement has a send case.
func sendWait(state string, stack []Frame, src *Sources) bool {
	switch state {
	case "chan send":
		return true
	case "select", "":
	default:
		return false
	}
	if state == "" {
		if anyFrame(stack, "runtime.chansend") {
			return true
		}
		if !anyFrame(stack, "runtime.selectgo") {
			return false
		}
	}
	wf, ok := WaitFrame(stack)
	if !ok {
		return false
	}
	sends, known := src.SelectSends(wf)
	return known && sends
}
