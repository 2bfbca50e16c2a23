package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// How long stop gives the server at each escalation: stdin closed (a
// well-behaved MCP server exits), then SIGTERM to its process group, then
// SIGKILL. termGrace covers `secondbrain serve`'s own shutdown deadline
// (10 s from the signal: in-flight calls cancelled, HTTP connections
// drained, logs flushed): killing a server still inside the bound it
// promises would report a failure that is the harness's own.
const (
	stopGrace = 3 * time.Second
	termGrace = 11 * time.Second
)

// stderrTail is how much of the server's stderr is kept for error messages.
const stderrTail = 8 << 10

// process is a server subprocess in its own process group, with pipes the
// runner owns. The host side of stderr is read according to a StderrMode.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File // our write end of the child's stdin
	stdout *os.File // our read end of the child's stdout
	stderr *os.File // our read end of the child's stderr

	done    chan struct{} // closed once Wait returned
	waitErr error

	stderrRead atomic.Int64
	tailMu     sync.Mutex
	tail       []byte

	drainCtx  context.Context // ends when stop asks to read stderr freely
	drainNow  context.CancelFunc
	readers   sync.WaitGroup
	stderrEOF chan struct{} // closed once readStderr has read all there is
	stopOnce  sync.Once
	stopErr   error
	// wedged is set when the runner closed the server's stdin because a
	// write into it stayed blocked past a call's deadline (see
	// closeWedgedStdin).
	wedged atomic.Bool
	// termFirst skips the stdin grace: a server on HTTP does not read stdin.
	termFirst bool
}

// startProcess starts argv with env in dir, stdin/stdout/stderr on pipes.
// The child gets its own process group, so stop can kill it and anything it
// started, and (on Linux) dies with the runner even on SIGKILL.
func startProcess(argv, env []string, dir string, mode StderrMode) (*process, error) {
	if len(argv) == 0 {
		return nil, errors.New("cannot start server: empty command")
	}
	var closers []*os.File
	closeAll := func() {
		for _, f := range closers {
			_ = f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closers = append(closers, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot create stdin pipe: %w", err)
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("cannot create stdout pipe: %w", err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("cannot create stderr pipe: %w", err)
	}
	if mode.PipeSize > 0 {
		if err := setPipeSize(errW, mode.PipeSize); err != nil {
			closeAll()
			return nil, fmt.Errorf("cannot resize the stderr pipe to %d bytes: %w", mode.PipeSize, err)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("cannot start server %q: %w", argv[0], err)
	}
	// The child holds its ends now; ours must go, or EOF never comes.
	_ = inR.Close()
	_ = outW.Close()
	_ = errW.Close()
	p := &process{cmd: cmd, stdin: inW, stdout: outR, stderr: errR, done: make(chan struct{}), stderrEOF: make(chan struct{})}
	p.drainCtx, p.drainNow = context.WithCancel(context.Background())
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	p.readers.Add(1)
	go p.readStderr(mode)
	return p, nil
}

// readStderr plays the host's part on the stderr pipe. In "none" mode it
// reads nothing until stop, so the 64 KiB pipe buffer fills and every
// further write by the server blocks — what froze the original
// server.
func (p *process) readStderr(mode StderrMode) {
	defer p.readers.Done()
	defer close(p.stderrEOF)
	buf := make([]byte, 4096)
	switch mode.Mode {
	case StderrNone:
		<-p.drainCtx.Done()
	case StderrSlow:
		burst := int(min(mode.BytesPerSec, int64(len(buf))))
		lim := rate.NewLimiter(rate.Limit(mode.BytesPerSec), burst)
		for {
			n, err := p.stderr.Read(buf[:burst])
			p.keep(buf[:n])
			if err != nil {
				return
			}
			if lim.WaitN(p.drainCtx, n) != nil {
				break // stop asked: drain the rest freely
			}
		}
	}
	for {
		n, err := p.stderr.Read(buf)
		p.keep(buf[:n])
		if err != nil {
			return
		}
	}
}

func (p *process) keep(b []byte) {
	if len(b) == 0 {
		return
	}
	p.stderrRead.Add(int64(len(b)))
	p.tailMu.Lock()
	p.tail = append(p.tail, b...)
	if len(p.tail) > stderrTail {
		p.tail = append(p.tail[:0], p.tail[len(p.tail)-stderrTail:]...)
	}
	p.tailMu.Unlock()
}

// Tail returns the last few KiB the server wrote to stderr.
func (p *process) Tail() string {
	p.tailMu.Lock()
	defer p.tailMu.Unlock()
	return string(p.tail)
}

// LastWords is Tail for a server that failed: it waits up to d for the
// process to exit and for its stderr to be read to the end, because what
// it said before dying may still be in the pipe when the runner notices
// (stdout closes first). A host that does not read stderr gets what there is.
func (p *process) LastWords(d time.Duration) string {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		return p.Tail()
	}
	select {
	case <-p.stderrEOF:
	case <-t.C:
	}
	return p.Tail()
}

// Exited reports whether the process has exited.
func (p *process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process and everything in its group and waits for it:
// stdin closed and stderr drained (a host that quits reads what is left),
// then SIGTERM, then SIGKILL. It is safe to call more than once.
func (p *process) stop() error {
	p.stopOnce.Do(func() {
		p.drainNow()
		_ = p.stdin.Close()
		grace := stopGrace
		if p.termFirst {
			grace = 0
		}
		if !p.waitFor(grace) {
			_ = signalGroup(p.cmd.Process.Pid, syscall.SIGTERM)
			if !p.waitFor(termGrace) {
				_ = signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
				p.stopErr = errors.New("server did not exit after stdin closed and SIGTERM; killed")
			}
		}
		// Anything left in the group (a --server-cmd wrapper's children)
		// goes too, so no one holds the pipes open.
		_ = signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.stdout.Close()
		p.readers.Wait()
		_ = p.stderr.Close()
	})
	return p.stopErr
}

func (p *process) waitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// signalGroup signals the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// stdio returns the MCP side of the pipes: what the server writes, and
// where to write to it.
func (p *process) stdio() (io.Reader, *os.File) { return p.stdout, p.stdin }

// processAlive reports whether pid names a live process.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// pid is the server process's id.
func (p *process) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// closeWedgedStdin closes our end of the server's stdin: a write blocked in
// a full pipe (the server stopped reading — its read loop is stuck) ignores
// every context, and mcp-go's stdio transport holds its write lock through
// it, so every later request would block too. Closing the pipe makes the
// blocked write, and all after it, fail at once. It reports whether this
// call did it.
func (p *process) closeWedgedStdin() bool {
	if p.wedged.Swap(true) {
		return false
	}
	_ = p.stdin.Close()
	return true
}

// Wedged reports whether closeWedgedStdin ran.
func (p *process) Wedged() bool { return p.wedged.Load() }
