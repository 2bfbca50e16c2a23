package logship

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"
)

// Format is the stderr encoding.
type Format string

const (
	FormatText Format = "text" // slog.TextHandler: key=value
	FormatJSON Format = "json" // slog.JSONHandler: one object per line
)

// ParseFormat accepts "text" and "json" ("" means text).
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatText:
		return FormatText, nil
	case FormatJSON:
		return FormatJSON, nil
	}
	return "", fmt.Errorf("cannot parse log format %q: want text or json", s)
}

// Defaults for [StderrOptions].
const (
	DefaultStderrQueueRecords = 4096
	DefaultStderrQueueBytes   = 1 << 20
	// DefaultStderrWriteBytes is about one pipe buffer: the writer hands the
	// pipe at most this much per write(2).
	DefaultStderrWriteBytes = 64 << 10
)

// StderrOptions configures [StartStderr]. The zero value means: text, level
// Info, default bounds, built-in redaction only, asynchronous.
type StderrOptions struct {
	Format Format
	// Level is compared in Enabled; share it to change the level at run
	// time. nil means a fresh LevelVar at Info.
	Level *slog.LevelVar
	// MaxQueueRecords and MaxQueueBytes bound the queue; a record that does
	// not fit is dropped and counted.
	MaxQueueRecords int
	MaxQueueBytes   int
	// MaxWriteBytes caps one write to w.
	MaxWriteBytes int
	// Redactor removes secrets; nil means NewRedactor() (patterns only).
	Redactor *Redactor
	// Sync is the canary mode "sync-stderr": DELIBERATELY BLOCKING. Each
	// record is written to w on the caller's goroutine under a mutex, so a
	// host that stops reading the pipe freezes every goroutine that logs —
	// the original project's real root cause. Never use it outside the
	// harness's canary scenarios.
	Sync bool
}

func (o *StderrOptions) fill() {
	if o.Format == "" {
		o.Format = FormatText
	}
	if o.Level == nil {
		o.Level = new(slog.LevelVar)
	}
	if o.MaxQueueRecords <= 0 {
		o.MaxQueueRecords = DefaultStderrQueueRecords
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = DefaultStderrQueueBytes
	}
	if o.MaxWriteBytes <= 0 {
		o.MaxWriteBytes = DefaultStderrWriteBytes
	}
	if o.Redactor == nil {
		o.Redactor = NewRedactor()
	}
}

// Stderr is a [slog.Handler] that writes to an io.Writer (os.Stderr in
// production) without ever making the caller wait for the writer.
//
// Handle encodes and redacts the record on the caller's goroutine, then
// appends the line to a bounded queue without waiting; one writer goroutine,
// started by [StartStderr] and stopped by [Stderr.Close], writes the queue
// to w. If w stops accepting data (a host that no longer reads the pipe),
// the queue fills and further records are dropped and counted.
//
// Handlers returned by WithAttrs and WithGroup share the queue, the writer
// goroutine, the level and the counters. All methods are safe for concurrent
// use.
type Stderr struct {
	core *stderrCore
	enc  *encNode // slog's own text/JSON encoder, pooled per goroutine
}

type stderrCore struct {
	w        io.Writer
	o        StderrOptions
	q        *lineQueue
	stop     chan struct{} // closed by Close: drain and exit
	abort    chan struct{} // closed when Close's ctx ends: give up
	done     chan struct{} // closed when the writer goroutine has exited
	stopOnce sync.Once

	syncMu sync.Mutex // sync mode only: serialises the blocking writes
}

var _ slog.Handler = (*Stderr)(nil)

// StartStderr returns the handler and starts its writer goroutine (none in
// Sync mode). Call Close to stop it.
func StartStderr(w io.Writer, o StderrOptions) *Stderr {
	o.fill()
	c := &stderrCore{
		w:     w,
		o:     o,
		q:     newLineQueue(o.MaxQueueRecords, o.MaxQueueBytes),
		stop:  make(chan struct{}),
		abort: make(chan struct{}),
		done:  make(chan struct{}),
	}
	hopts := &slog.HandlerOptions{Level: o.Level, ReplaceAttr: o.Redactor.ReplaceAttr}
	base := func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, hopts) }
	if o.Format == FormatJSON {
		base = func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, hopts) }
	}
	if o.Sync {
		close(c.done)
	} else {
		// Labelled so the harness's profiles classify it as background work.
		go pprof.Do(context.Background(), pprof.Labels("path", "background", "component", "stderr"), func(context.Context) { c.run() })
	}
	return &Stderr{core: c, enc: newEncNode(base)}
}

// Enabled reports whether level is at or above the handler's LevelVar.
func (s *Stderr) Enabled(_ context.Context, level slog.Level) bool {
	return level >= s.core.o.Level.Level()
}

// Handle encodes r and queues it (or, in Sync mode, writes it). It returns
// nil when the record is dropped: drops are counted, not reported per call.
func (s *Stderr) Handle(ctx context.Context, r slog.Record) error {
	c := s.core
	line, err := s.enc.encode(ctx, r, c.o.Redactor)
	if err != nil {
		c.q.dropUnqueued(DropEncodeError)
		return nil
	}
	if c.o.Sync {
		return c.writeSync(line)
	}
	c.q.push(line)
	return nil
}

// WithAttrs returns a handler sharing this one's queue and counters.
func (s *Stderr) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return s
	}
	return &Stderr{core: s.core, enc: s.enc.withAttrs(attrs)}
}

// WithGroup returns a handler sharing this one's queue and counters;
// WithGroup("") returns s.
func (s *Stderr) WithGroup(name string) slog.Handler {
	if name == "" {
		return s
	}
	return &Stderr{core: s.core, enc: s.enc.withGroup(name)}
}

// Level returns the LevelVar Enabled compares against.
func (s *Stderr) Level() *slog.LevelVar { return s.core.o.Level }

// Stats returns a consistent snapshot of the counters.
func (s *Stderr) Stats() SinkStats {
	mode := "async"
	if s.core.o.Sync {
		mode = "sync-stderr"
	}
	return sinkStats(mode, s.core.q)
}

// Close stops accepting records (later ones are dropped as "shutdown"),
// writes what is queued until ctx ends, and stops the writer goroutine.
//
// If ctx ends first, the remaining records are dropped as "shutdown" and
// Close returns an error wrapping [ErrUndelivered] and ctx.Err(). A write
// already blocked in the kernel is interrupted only if w has a
// SetWriteDeadline method that works (an *os.File for a pollable pipe, such
// as one from os.Pipe); otherwise the writer goroutine stays blocked in that
// write until the reader drains or closes the pipe, and exits then — Close
// does not wait for it. Close is idempotent; later calls report the same
// accounting.
func (s *Stderr) Close(ctx context.Context) error {
	c := s.core
	c.stopOnce.Do(func() {
		c.q.close()
		close(c.stop)
	})
	select {
	case <-c.done:
	case <-ctx.Done():
		c.giveUp()
		// The writer either returns from an interrupted write at once, or is
		// stuck in a write nothing can interrupt; wait briefly for the former.
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-c.done:
		case <-t.C:
		}
		t.Stop()
		if d, ok := c.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
			_ = d.SetWriteDeadline(time.Time{}) // leave os.Stderr usable for the exit message
		}
	}
	st := s.Stats()
	if lost := st.Pending + st.Dropped[DropShutdown.String()]; lost > 0 {
		return fmt.Errorf("cannot flush stderr log: %d records not written: %w", lost, undeliveredErr(ctx))
	}
	return nil
}

// giveUp makes the writer stop: it drops what is queued and interrupts a
// blocked write when the writer supports deadlines.
func (c *stderrCore) giveUp() {
	select {
	case <-c.abort:
		return
	default:
	}
	close(c.abort)
	if d, ok := c.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(time.Unix(1, 0)) // in the past: pending and future writes fail at once
	}
}

func (c *stderrCore) aborted() bool {
	select {
	case <-c.abort:
		return true
	default:
		return false
	}
}

// run is the writer goroutine: it owns every write to w in async mode.
func (c *stderrCore) run() {
	defer close(c.done)
	var buf []byte
	for {
		select {
		case <-c.q.wake:
		case <-c.stop:
		case <-c.abort:
		}
		for {
			if c.aborted() {
				c.q.dropQueued(DropShutdown)
				return
			}
			batch := c.q.take(c.o.MaxQueueRecords, c.o.MaxWriteBytes)
			if batch == nil {
				break
			}
			buf = buf[:0]
			for _, l := range batch {
				buf = append(buf, l...)
			}
			_, err := c.w.Write(buf)
			switch {
			case err == nil:
				c.q.settle(len(batch), true, 0)
			case c.aborted():
				c.q.settle(len(batch), false, DropShutdown)
			default:
				// A broken or closed stderr: nothing better to do than count.
				c.q.settle(len(batch), false, DropSinkError)
			}
			if cap(buf) > 4*c.o.MaxWriteBytes {
				buf = nil // one huge record must not pin its buffer forever
			}
		}
		select {
		case <-c.stop:
			if n, _ := c.q.size(); n == 0 {
				return
			}
		default:
		}
	}
}

// writeSync is the deliberately blocking canary path: the write happens on
// the logging goroutine, under a mutex, and blocks while the pipe is full.
func (c *stderrCore) writeSync(line []byte) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	_, err := c.w.Write(line)
	c.q.countSync(err == nil)
	if err != nil {
		return fmt.Errorf("cannot write log record to stderr: %w", err)
	}
	return nil
}
