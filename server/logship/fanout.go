package logship

import (
	"context"
	"errors"
	"log/slog"
)

// Fanout is a [slog.Handler] that passes each record to every child whose
// own level admits it — stderr at one level, VictoriaLogs at another.
//
// Unlike [slog.MultiHandler] it does not clone the record per child: every
// child in this package encodes the record before Handle returns and keeps
// nothing. Do not add a child that retains records.
type Fanout struct {
	children []slog.Handler
}

var _ slog.Handler = (*Fanout)(nil)

// NewFanout returns a handler over the non-nil handlers given.
func NewFanout(handlers ...slog.Handler) *Fanout {
	f := &Fanout{}
	for _, h := range handlers {
		if h != nil {
			f.children = append(f.children, h)
		}
	}
	return f
}

// Enabled reports whether any child is enabled at level; each child only
// compares its LevelVar.
func (f *Fanout) Enabled(ctx context.Context, level slog.Level) bool {
	for _, h := range f.children {
		if h.Enabled(ctx, level) {
			return true
		}
	}
	return false
}

// Handle passes r to each child enabled at r.Level.
func (f *Fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f.children {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// WithAttrs returns a Fanout of the children's WithAttrs.
func (f *Fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return f
	}
	g := &Fanout{children: make([]slog.Handler, len(f.children))}
	for i, h := range f.children {
		g.children[i] = h.WithAttrs(attrs)
	}
	return g
}

// WithGroup returns a Fanout of the children's WithGroup; WithGroup("")
// returns f.
func (f *Fanout) WithGroup(name string) slog.Handler {
	if name == "" {
		return f
	}
	g := &Fanout{children: make([]slog.Handler, len(f.children))}
	for i, h := range f.children {
		g.children[i] = h.WithGroup(name)
	}
	return g
}
