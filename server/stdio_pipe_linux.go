//go:build linux

package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// pipeFD is the server's stdout when it is a pipe: the transport writes
// its descriptor itself, in non-blocking mode, and when the pipe is full
// waits in ppoll(2) on it and on a wake-up eventfd. Go's poller would do
// the same, but every time the host drained the pipe it would also wake
// the runtime's idle thread blocked in epoll; and Interrupt ends a write to
// a host that stopped reading, which a blocking write cannot.
//
// A short answer (a pong) can be written by the reader itself (tryWrite),
// with no hand-off to the writer goroutine.
type pipeFD struct {
	f    *os.File // keeps fd open; the caller closes it, after Serve
	fd   int
	wake int // eventfd: readable once Interrupt was called

	closeOnce sync.Once
}

// errInterrupted ends a Read or Write that Interrupt stopped.
var errInterrupted = errors.New("stdio interrupted")

// newPipeFD returns a pipeFD for v, or nil when v is not an *os.File open
// on a pipe (the caller then uses v as it is). It puts the pipe in
// non-blocking mode.
func newPipeFD(v any) *pipeFD {
	f, fd := pipeOf(v)
	if f == nil {
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil
	}
	// The mode changes only once nothing can fail: a file handed back to
	// the caller keeps the mode its *os.File expects.
	if unix.SetNonblock(fd, true) != nil {
		_ = unix.Close(wake)
		return nil
	}
	return &pipeFD{f: f, fd: fd, wake: wake}
}

// pipeOf returns v's file and descriptor when v is an *os.File open on a
// pipe; nil otherwise.
func pipeOf(v any) (*os.File, int) {
	f, ok := v.(*os.File)
	if !ok {
		return nil, -1
	}
	rc, err := f.SyscallConn() // the descriptor, without Fd's switch to blocking mode
	if err != nil {
		return nil, -1
	}
	fd := -1
	err = rc.Control(func(d uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(d), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
			fd = int(d)
		}
	})
	if err != nil || fd < 0 {
		return nil, -1
	}
	return f, fd
}

// wait blocks until the pipe is ready for events or Interrupt was called.
func (p *pipeFD) wait(events int16) error {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: events}, {Fd: int32(p.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Ppoll(fds, nil, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("cannot wait for the pipe: %w", err)
		case fds[1].Revents != 0:
			return errInterrupted
		}
		return nil // ready, or hung up / in error: the read or write says which
	}
}

func (p *pipeFD) Write(b []byte) (int, error) {
	raceReleaseIO()
	written := 0
	for written < len(b) {
		n, err := unix.Write(p.fd, b[written:])
		if n > 0 {
			written += n
		}
		switch {
		case errors.Is(err, unix.EAGAIN):
			if err := p.wait(unix.POLLOUT); err != nil {
				return written, err
			}
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return written, fmt.Errorf("cannot write stdout: %w", err)
		}
	}
	return written, nil
}

// tryWrite writes line at once if the pipe has room for it; false means
// nothing was written and the writer must send it. A non-blocking write of
// at most PIPE_BUF bytes into a pipe takes the whole line or nothing
// (EAGAIN), so it neither blocks nor splits a line.
func (p *pipeFD) tryWrite(line []byte) bool {
	if p == nil || len(line) > pipeBuf {
		return false
	}
	raceReleaseIO()
	n, err := unix.Write(p.fd, line)
	return err == nil && n == len(line)
}

// Interrupt ends a Write waiting for room, and every later one that
// would wait.
func (p *pipeFD) Interrupt() bool {
	_, err := unix.Write(p.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	return err == nil || errors.Is(err, unix.EAGAIN) // EAGAIN: already signalled
}

// Close releases the eventfd (not the pipe); call it once no Write runs.
func (p *pipeFD) Close() error {
	var err error
	p.closeOnce.Do(func() { err = unix.Close(p.wake) })
	return err
}

// pipeBuf is Linux's PIPE_BUF: a pipe write of at most this many bytes is
// atomic.
const pipeBuf = 4096

// pipeIn is the server's stdin when it is a pipe: the reader reads its
// descriptor in blocking mode, so the thread that sleeps in read(2) is the
// one that parses and answers — one syscall per request, as a program
// reading os.Stdin does. Through Go's poller (stdin in non-blocking mode)
// each line cost a park, a wake-up by whichever thread polls the network,
// a hand-off to the reader goroutine, and an epoll wake-up of the idle
// thread: a stdio ping took 1.3–1.4× a trivial line echo's round trip on a
// 2-vCPU VM, against about 1.1× now.
//
// A read blocked on an idle host cannot be ended by a deadline or by
// closing the descriptor; Interrupt reopens the pipe for writing through
// /proc/self/fd and writes one newline into it, which wakes the read, and
// every Read from then on returns errInterrupted. (Nothing read after
// Interrupt is delivered: shutdown has stopped dispatching by then.)
type pipeIn struct {
	f           *os.File // keeps fd open; the caller closes it, after Serve
	fd          int
	interrupted atomic.Bool
}

// newPipeIn returns a pipeIn for v, or nil when v is not an *os.File open
// on a pipe that can be woken (the caller then reads v as it is). It puts
// the pipe in blocking mode.
func newPipeIn(v any) *pipeIn {
	f, fd := pipeOf(v)
	if f == nil {
		return nil
	}
	p := &pipeIn{f: f, fd: fd}
	w, err := p.openWriter()
	if err != nil {
		return nil // no /proc: a blocked read could not be woken (in keeps its mode)
	}
	_ = unix.Close(w)
	if unix.SetNonblock(fd, false) != nil {
		return nil
	}
	return p
}

func (p *pipeIn) openWriter() (int, error) {
	return unix.Open("/proc/self/fd/"+strconv.Itoa(p.fd), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
}

func (p *pipeIn) Read(b []byte) (int, error) {
	for {
		if p.interrupted.Load() {
			return 0, errInterrupted
		}
		n, err := unix.Read(p.fd, b)
		switch {
		case p.interrupted.Load():
			return 0, errInterrupted
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			// Someone sharing the pipe made it non-blocking again: wait
			// for data (or Interrupt's newline) in ppoll.
			fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
			if _, err := unix.Ppoll(fds, nil, nil); err != nil && !errors.Is(err, unix.EINTR) {
				return 0, fmt.Errorf("cannot wait for stdin: %w", err)
			}
			continue
		case err != nil:
			return 0, fmt.Errorf("cannot read stdin: %w", err)
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		raceAcquireIO()
		return n, nil
	}
}

// Interrupt ends the Read in progress and every later one.
func (p *pipeIn) Interrupt() bool {
	p.interrupted.Store(true)
	w, err := p.openWriter()
	if err != nil {
		return false
	}
	defer unix.Close(w)
	_, err = unix.Write(w, []byte{'\n'})
	// EAGAIN: the pipe is full, so no read is waiting on it.
	return err == nil || errors.Is(err, unix.EAGAIN)
}
