//go:build linux

package server

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeOut is the server's stdout when it is a pipe. A short answer (a
// pong) can then be written by the reader itself, with no hand-off to the
// writer goroutine, whenever the pipe has room for it: a write of at most
// PIPE_BUF bytes into a pipe with that much room neither blocks nor
// splits. The writer and the reader write under conn.outMu, so lines never
// interleave.
type pipeOut struct {
	fd   int
	size int // the pipe's capacity (F_GETPIPE_SZ)
}

// newPipeOut returns a pipeOut for w, or nil when w is not a pipe.
func newPipeOut(w io.Writer) *pipeOut {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fd := int(f.Fd())
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	size, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil || size <= 0 {
		return nil
	}
	return &pipeOut{fd: fd, size: size}
}

// tryWrite writes line at once if it fits in the pipe's free space and in
// PIPE_BUF; false means nothing was written and the writer must send it.
func (p *pipeOut) tryWrite(line []byte) bool {
	if p == nil || len(line) > pipeBuf {
		return false
	}
	queued, err := unix.IoctlGetInt(p.fd, unix.TIOCINQ) // FIONREAD: bytes not yet read
	if err != nil || queued+len(line) > p.size {
		return false
	}
	n, err := unix.Write(p.fd, line)
	return err == nil && n == len(line)
}

// pipeBuf is Linux's PIPE_BUF: a pipe write of at most this many bytes is
// atomic.
const pipeBuf = 4096
