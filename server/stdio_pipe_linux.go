//go:build linux

package server

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipeOut is the server's stdout when it is a pipe. A short answer (a
// pong) can then be written by the reader itself, with no hand-off to the
// writer goroutine, whenever the pipe has room for it: a write of at most
// PIPE_BUF bytes into a pipe with that much room neither blocks nor
// splits. The writer and the reader write under conn.outMu, so lines never
// interleave.
type pipeOut struct {
	rc   syscall.RawConn // the file's descriptor, reached without making it blocking (as Fd would)
	size int             // the pipe's capacity (F_GETPIPE_SZ)
}

// newPipeOut returns a pipeOut for w, or nil when w is not a pipe.
func newPipeOut(w io.Writer) *pipeOut {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	size := 0
	err = rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return
		}
		size, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
	})
	if err != nil || size <= 0 {
		return nil
	}
	return &pipeOut{rc: rc, size: size}
}

// tryWrite writes line at once if it fits in the pipe's free space and in
// PIPE_BUF; false means nothing was written and the writer must send it.
func (p *pipeOut) tryWrite(line []byte) bool {
	if p == nil || len(line) > pipeBuf {
		return false
	}
	written := false
	_ = p.rc.Control(func(fd uintptr) {
		queued, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ) // FIONREAD: bytes not yet read
		if err != nil || queued+len(line) > p.size {
			return
		}
		n, err := unix.Write(int(fd), line)
		written = err == nil && n == len(line)
	})
	return written
}

// pipeBuf is Linux's PIPE_BUF: a pipe write of at most this many bytes is
// atomic.
const pipeBuf = 4096
