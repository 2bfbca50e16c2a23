package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// A Reporter renders one report format to w. It returns the first write
// error. Reporters only read the Result they were made from; call
// [Summarize] first if the producer left aggregates empty.
type Reporter func(w io.Writer) error

// Report renders to w.
func (rep Reporter) Report(w io.Writer) error { return rep(w) }

// NewJSONReporter renders result.json: indented, HTML characters left as
// they are ("<=" stays readable), map keys sorted, one trailing newline.
func NewJSONReporter(r *Result) Reporter {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("cannot write result JSON: %w", err)
		}
		return nil
	}
}

// ReadResult decodes a result.json. Unknown fields are accepted (a newer
// writer may have added some); a schema_version newer than this package's is
// an error, since fields may have changed meaning.
func ReadResult(rd io.Reader) (*Result, error) {
	var r Result
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("cannot decode result JSON: %w", err)
	}
	if r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("cannot read result schema_version %d: this build knows up to %d", r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// errWriter keeps the first write error so renderers can write freely and
// check once; bufio.Writer already behaves so, this wraps it with printf.
type errWriter struct {
	bw *bufio.Writer
}

func newErrWriter(w io.Writer) *errWriter { return &errWriter{bw: bufio.NewWriter(w)} }

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e.bw, format, args...) }
func (e *errWriter) print(s string)                    { e.bw.WriteString(s) }

// flush returns the first error of any write, or of the flush.
func (e *errWriter) flush() error { return e.bw.Flush() }

// FormatMS formats a latency in milliseconds with a precision that suits
// its size, always the same way for the same value: "0.41 ms", "12.3 ms",
// "1.25 s".
func FormatMS(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "n/a"
	case ms == 0:
		return "0 ms"
	case math.Abs(ms) < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case math.Abs(ms) < 1000:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	default:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
}

// FormatValue formats a check value in its unit.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return FormatMS(v)
	case "bool":
		if v != 0 {
			return "true"
		}
		return "false"
	case "ratio":
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	s := formatNumber(v)
	if unit != "" && unit != "count" {
		s += " " + unit
	}
	return s
}

func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// CheckLabel names a check with its phase: "heartbeat.ping.p99 [fault:slow-sink]".
func CheckLabel(c Check) string {
	if c.Phase == "" {
		return c.Name
	}
	return c.Name + " [" + c.Phase + "]"
}

// CheckText is a one-line account of a check: "812 ms (limit <= 50.0 ms): FAIL".
func CheckText(c Check) string {
	verdict := "pass"
	if !c.Pass {
		verdict = "FAIL"
	}
	op := c.Op
	if op == "" {
		op = "vs"
	}
	s := fmt.Sprintf("%s (limit %s %s): %s", FormatValue(c.Value, c.Unit), op, FormatValue(c.Threshold, c.Unit), verdict)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// DiagnosisLine is the diagnosis in one line: cause, culprit frame, and how
// many goroutines waited behind it for how long.
func DiagnosisLine(d *Diagnosis) string {
	if d == nil {
		return ""
	}
	// Cause, frame, goroutine count and wait all come from one row: the
	// culprit's own row when the ranking has it, else the top row.
	cause, frame := d.Cause, d.Culprit
	var row *Culprit
	for i := range d.Frames {
		if d.Frames[i].Frame == frame {
			row = &d.Frames[i]
			break
		}
	}
	if frame == "" && len(d.Frames) > 0 {
		row = &d.Frames[0]
		frame = row.Frame
	}
	if row != nil && row.Cause != "" {
		cause = row.Cause
	}
	var parts []string
	if cause != "" {
		parts = append(parts, cause)
	}
	if frame != "" {
		parts = append(parts, ShortFrame(frame))
	}
	s := strings.Join(parts, ": ")
	if row != nil && (row.Goroutines > 0 || row.WaitMS > 0) {
		s += fmt.Sprintf(" (%d goroutine%s waited %s)", row.Goroutines, plural(row.Goroutines), FormatMS(row.WaitMS))
	}
	if s == "" {
		s = d.Summary
	}
	return oneLine(s)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ShortFrame drops the import path of a frame's package, keeping
// "logship.(*StderrHandler).Handle (stderr.go:71)" of
// "github.com/…/server/logship.(*StderrHandler).Handle (stderr.go:71)".
func ShortFrame(frame string) string {
	fn, loc, hasLoc := strings.Cut(frame, " (")
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		fn = fn[i+1:]
	}
	if hasLoc {
		return fn + " (" + loc
	}
	return fn
}
