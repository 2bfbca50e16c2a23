package logship

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
)

// encNode encodes records with slog's own Text/JSON handlers, without their
// shared mutex on the hot path.
//
// slog's built-in handlers serialise every Write under one mutex shared by
// all their WithAttrs/WithGroup clones. With 50 goroutines logging on two
// cores, a goroutine preempted while holding that mutex stalls all the
// others for a scheduler time slice, which is exactly the kind of wait
// this package exists to remove. So each node keeps a sync.Pool of private
// handler chains, each writing into its own buffer: encoding takes no shared
// lock, and the only shared lock left is the queue's, held for an append.
//
// A node is one link of the WithAttrs/WithGroup chain; the chain is
// replayed onto a fresh base handler when the pool needs a new encoder.
type encNode struct {
	parent *encNode
	attrs  []slog.Attr // set for a WithAttrs link
	group  string      // set for a WithGroup link
	base   func(io.Writer) slog.Handler
	pool   sync.Pool // of *encoder
}

type encoder struct {
	buf bytes.Buffer
	h   slog.Handler
}

// maxPooledBuf keeps one huge record from pinning a large buffer.
const maxPooledBuf = 64 << 10

func newEncNode(base func(io.Writer) slog.Handler) *encNode {
	return &encNode{base: base}
}

func (n *encNode) build(w io.Writer) slog.Handler {
	if n.parent == nil {
		return n.base(w)
	}
	h := n.parent.build(w)
	if n.group != "" {
		return h.WithGroup(n.group)
	}
	return h.WithAttrs(n.attrs)
}

func (n *encNode) withAttrs(attrs []slog.Attr) *encNode {
	// Resolve now, as slog's handlers do in WithAttrs: encoders built later
	// by the pool must see the values of this moment.
	as := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		as[i] = slog.Attr{Key: a.Key, Value: a.Value.Resolve()}
	}
	return &encNode{parent: n, attrs: as, base: n.base}
}

func (n *encNode) withGroup(name string) *encNode {
	return &encNode{parent: n, group: name, base: n.base}
}

// encode returns r encoded as one line, redacted by red, in a fresh slice
// the caller may keep.
func (n *encNode) encode(ctx context.Context, r slog.Record, red *Redactor) ([]byte, error) {
	e, _ := n.pool.Get().(*encoder)
	if e == nil {
		e = &encoder{}
		e.h = n.build(&e.buf)
	}
	e.buf.Reset()
	err := e.h.Handle(ctx, r)
	var line []byte
	if err == nil {
		line = red.Redact(e.buf.Bytes())
	}
	if e.buf.Cap() <= maxPooledBuf {
		n.pool.Put(e)
	}
	return line, err
}
