package probes

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Frame is one stack frame.
type Frame struct {
	// Func is the fully qualified function name as the runtime prints it,
	// e.g. "github.com/secondbrain-dev/secondbrain/server.(*conn).dispatch".
	Func string
	File string
	Line int
	// Args is the argument list a debug=2 dump prints, without its
	// parentheses ("0xc000012340, {0x1, 0x2}"), or "". Words the runtime
	// is unsure of end in "?".
	Args string
}

// Short returns "package.Function (file.go:line)" with the package's last
// path element only: the culprit format of a diagnosis.
func (f Frame) Short() string {
	if f.File == "" {
		return ShortFunc(f.Func)
	}
	return fmt.Sprintf("%s (%s:%d)", ShortFunc(f.Func), path.Base(f.File), f.Line)
}

// ShortFunc trims the import path of a function name to its last element:
// "github.com/x/y/server.(*conn).dispatch" → "server.(*conn).dispatch".
func ShortFunc(fn string) string {
	slash := strings.LastIndex(fn, "/")
	if slash < 0 {
		return fn
	}
	return fn[slash+1:]
}

// Goroutine is one goroutine of a debug=2 goroutine dump.
type Goroutine struct {
	ID int64
	// State is the wait reason or status in the header: "chan receive",
	// "sync.Mutex.Lock", "IO wait", "select", "syscall", "running"…
	State string
	// Wait is how long it has been blocked. The runtime prints whole
	// minutes only, and only from 1 minute on: shorter waits read 0.
	Wait           time.Duration
	LockedToThread bool
	// Labels are the goroutine's pprof labels; the runtime prints them only
	// when the process runs with GODEBUG=tracebacklabels=1.
	Labels map[string]string
	// Stack is leaf first.
	Stack []Frame
	// CreatedBy is the frame of the go statement that started it, and
	// CreatorID the goroutine that ran it (0 when not printed).
	CreatedBy *Frame
	CreatorID int64
	// Elided is set when the runtime cut the stack ("additional frames
	// elided").
	Elided bool
}

// ParseGoroutines parses the text of /debug/pprof/goroutine?debug=2 (the
// format of runtime.Stack(buf, true) and of a crash dump). It is tolerant:
// unknown lines are skipped, and a truncated dump yields the goroutines
// read so far. It fails only when no goroutine header is found in a
// non-empty input.
func ParseGoroutines(text []byte) ([]Goroutine, error) {
	var out []Goroutine
	var cur *Goroutine
	var pendingFunc, pendingArgs string
	var pendingCreated bool
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
		pendingFunc, pendingCreated = "", false
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			g, ok := parseGoroutineHeader(line)
			if !ok {
				continue
			}
			flush()
			cur = &g
		case cur == nil:
			// Text before the first header (e.g. a panic message).
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "\t"):
			if pendingFunc == "" {
				continue // "goroutine running on other thread; stack unavailable"
			}
			file, ln := parseFileLine(strings.TrimSpace(line))
			f := Frame{Func: pendingFunc, File: file, Line: ln, Args: pendingArgs}
			if pendingCreated {
				cur.CreatedBy = &f
			} else {
				cur.Stack = append(cur.Stack, f)
			}
			pendingFunc, pendingCreated = "", false
		case strings.HasPrefix(line, "...") && strings.Contains(line, "elided"):
			cur.Elided = true
		case strings.HasPrefix(line, "created by "):
			fn := strings.TrimPrefix(line, "created by ")
			if i := strings.Index(fn, " in goroutine "); i >= 0 {
				cur.CreatorID, _ = strconv.ParseInt(strings.TrimSpace(fn[i+len(" in goroutine "):]), 10, 64)
				fn = fn[:i]
			}
			pendingFunc, pendingArgs, pendingCreated = fn, "", true
		default:
			pendingFunc, pendingCreated = funcName(line), false
			pendingArgs = funcArgs(line, pendingFunc)
		}
	}
	flush()
	if len(out) == 0 && len(bytes.TrimSpace(text)) > 0 {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("cannot read goroutine dump: %w", err)
		}
		return nil, fmt.Errorf("cannot parse goroutine dump: no %q header in %d bytes", "goroutine N [state]:", len(text))
	}
	return out, nil
}

// parseGoroutineHeader reads
//
//	goroutine 18 [chan receive, 3 minutes, locked to thread]:
//	goroutine 7 gp=0xc000007c00 m=nil [select labels:{"path": "request"}]:
func parseGoroutineHeader(line string) (Goroutine, bool) {
	var g Goroutine
	rest := strings.TrimPrefix(line, "goroutine ")
	sp := strings.IndexAny(rest, " [")
	if sp <= 0 {
		return g, false
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil {
		return g, false
	}
	g.ID = id
	open := strings.Index(rest, "[")
	closeIdx := strings.LastIndex(rest, "]")
	if open < 0 || closeIdx < open {
		return g, false
	}
	inside := rest[open+1 : closeIdx]
	if i := strings.Index(inside, " labels:{"); i >= 0 {
		g.Labels = parseTracebackLabels(inside[i+len(" labels:"):])
		inside = inside[:i]
	}
	parts := strings.Split(inside, ", ")
	g.State = strings.TrimSpace(parts[0])
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		switch {
		case strings.HasSuffix(p, " minutes"):
			if n, err := strconv.Atoi(strings.TrimSuffix(p, " minutes")); err == nil {
				g.Wait = time.Duration(n) * time.Minute
			}
		case p == "locked to thread":
			g.LockedToThread = true
		}
	}
	return g, true
}

// parseTracebackLabels reads {"k": "v", "k2": "v2"} as the runtime prints
// it (keys and values quoted like Go strings).
func parseTracebackLabels(s string) map[string]string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "{")
	s = strings.TrimSuffix(s, "}")
	m := map[string]string{}
	for len(s) > 0 {
		k, rest, ok := nextQuoted(s)
		if !ok {
			break
		}
		rest = strings.TrimLeft(rest, ": ")
		v, rest2, ok := nextQuoted(rest)
		if !ok {
			break
		}
		m[k] = v
		s = strings.TrimLeft(rest2, ", ")
	}
	return m
}

func nextQuoted(s string) (string, string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '"' {
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				v = s[1:i]
			}
			return v, s[i+1:], true
		}
	}
	return "", s, false
}

// funcName strips the argument list from a traceback function line:
// "pkg.(*T).M(0xc000, {0x1, 0x2})" → "pkg.(*T).M", "pkg.f(...)" → "pkg.f".
func funcName(line string) string {
	line = strings.TrimSpace(line)
	if !strings.HasSuffix(line, ")") {
		return line
	}
	depth := 0
	for i := len(line) - 1; i >= 0; i-- {
		switch line[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				if i == 0 {
					return line
				}
				return line[:i]
			}
		}
	}
	return line
}

// funcArgs is the argument list of a traceback function line whose name
// is fn: "pkg.f(0xc0, 0x1?)" → "0xc0, 0x1?"; "pkg.f(...)" → "".
func funcArgs(line, fn string) string {
	line = strings.TrimSpace(line)
	if len(line) < len(fn)+2 || !strings.HasSuffix(line, ")") {
		return ""
	}
	args := line[len(fn)+1 : len(line)-1]
	if args == "..." {
		return ""
	}
	return args
}

// argWords are the machine words of a frame's argument list that the
// runtime printed with certainty (a word ending in "?" may be stale),
// composite values' words included.
func argWords(args string) []uint64 {
	var out []uint64
	for _, tok := range strings.FieldsFunc(args, func(r rune) bool { return r == ',' || r == ' ' || r == '{' || r == '}' }) {
		if !strings.HasPrefix(tok, "0x") || strings.HasSuffix(tok, "?") {
			continue
		}
		if v, err := strconv.ParseUint(tok[2:], 16, 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// parseFileLine reads "/path/file.go:123 +0x1d" (the pc offset optional).
func parseFileLine(s string) (string, int) {
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, " fp="); i >= 0 { // GOTRACEBACK=system adds fp= sp= pc=
		s = s[:i]
	}
	colon := strings.LastIndex(s, ":")
	if colon < 0 {
		return s, 0
	}
	n, err := strconv.Atoi(s[colon+1:])
	if err != nil {
		return s, 0
	}
	return s[:colon], n
}

// stackKey identifies a stack by its function names, leaf first, runtime
// frames left out (text tracebacks hide them). Lines are left out on purpose: the proto profile and the text dump of the same
// goroutine agree on functions but may differ by a line for inlined calls.
func stackKey(stack []Frame) string {
	var b strings.Builder
	for _, f := range stack {
		if strings.HasPrefix(f.Func, "runtime.") {
			continue // hidden from text tracebacks unless GOTRACEBACK=system
		}
		b.WriteString(f.Func)
		b.WriteByte('\n')
	}
	return b.String()
}
