package scenarios

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/sys/unix"

	"github.com/secondbrain-dev/secondbrain/probes"
)

// pipePinger lets the heartbeat write its probes (pings and no-op tool
// calls) straight into the server's stdin from its clock's thread
// (probes.Sender) and takes their answers off the server's stdout before
// the MCP client reads it. The probes still share the pipe with the
// scenario's calls, as a host's do; only the hand-off to a goroutine per
// probe is gone.
//
// Frames never interleave: the MCP client writes each frame with one Write
// through frames (one lock for both writers), and a ping is written whole
// by one write(2) of fewer than PIPE_BUF bytes, which a pipe takes
// entirely or not at all.
type pipePinger struct {
	f *os.File // the server's stdin (our write end)
	// ping and noop are the probes' frames after the id.
	ping, noop string
	frames     sync.Mutex
	seq        atomic.Uint64
	// raw, writeFn and the fields after them serve tryWrite, under
	// frames: made once, so a write from a clock's thread allocates
	// nothing.
	raw     syscall.RawConn
	rawErr  error
	writeFn func(fd uintptr)
	wframe  []byte
	wn      int
	werr    error

	mu      sync.Mutex
	pending map[string]func(time.Time, rpcAnswer) // probe id → answered
	// load takes the answers to a load step's calls while one runs.
	load atomic.Pointer[stdioLoad]
}

// rpcAnswer is what the pinger makes of an answer line.
type rpcAnswer struct {
	code    int    // the JSON-RPC error's code; 0 for a result
	message string // the error's message, or a tool error's text
	isError bool   // the result is a tool error
}

// pingIDPrefix marks the heartbeat's ping ids and loadIDPrefix a load
// step's calls; the client's own ids are numbers.
const (
	pingIDPrefix = "hb-"
	loadIDPrefix = "ld-"
)

// pipeBuf is POSIX's PIPE_BUF on Linux: a write of at most this many bytes
// to a pipe is atomic.
const pipeBuf = 4096

// newPipePinger writes probes for protocol version: a ping, or where
// ping no longer exists (2026-07-28 and later) server/discover, each
// request with the version and capabilities in its _meta.
func newPipePinger(stdin *os.File, version string) *pipePinger {
	p := &pipePinger{f: stdin, pending: map[string]func(time.Time, rpcAnswer){},
		ping: `"method":"ping"`,
		noop: `"method":"tools/call","params":{"name":"` + NoopTool + `","arguments":{}}`,
	}
	p.raw, p.rawErr = stdin.SyscallConn()
	p.writeFn = p.writeFrame
	if mcp.IsModernProtocol(version) {
		meta := `"_meta":{"` + mcp.MetaKeyProtocolVersion + `":"` + version + `","` + mcp.MetaKeyClientCapabilities + `":{}}`
		p.ping = `"method":"` + string(mcp.MethodServerDiscover) + `","params":{` + meta + `}`
		p.noop = `"method":"tools/call","params":{"name":"` + NoopTool + `","arguments":{},` + meta + `}`
	}
	return p
}

var _ probes.Sender = (*pipePinger)(nil)

// TrySend implements probes.Sender: a ping, or a call of NoopTool.
func (p *pipePinger) TrySend(kind probes.Kind, answered func(time.Time, error)) (func(), error) {
	id := pingIDPrefix + strconv.FormatUint(p.seq.Add(1), 10)
	body := p.ping
	if kind == probes.KindNoop {
		body = p.noop
	}
	frame := []byte(`{"jsonrpc":"2.0","id":"` + id + `",` + body + `}` + "\n")
	drop := func() {
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
	}
	// A probe given up on is cancelled as a host would (best effort:
	// never waiting for the pipe); its late answer is still taken off
	// stdout, not handed to the client.
	forget := func() {
		drop()
		_ = p.tryWrite([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"` + id + `","reason":"heartbeat probe timed out"}}` + "\n"))
	}
	p.mu.Lock()
	p.pending[id] = func(at time.Time, a rpcAnswer) { answered(at, a.probeErr()) }
	p.mu.Unlock()
	if err := p.tryWrite(frame); err != nil {
		drop()
		return nil, err
	}
	return forget, nil
}

// tryWrite writes frame with one non-blocking write(2), or returns
// probes.ErrWouldBlock having written nothing. It runs on the probes' and
// the load's clock threads: it allocates nothing (the descriptor's
// RawConn and the write function are made once) and takes the frame lock
// only if it is free.
func (p *pipePinger) tryWrite(frame []byte) error {
	if len(frame) > pipeBuf || !p.frames.TryLock() {
		return probes.ErrWouldBlock
	}
	defer p.frames.Unlock()
	if p.raw == nil {
		return fmt.Errorf("cannot reach the server's stdin: %w", p.rawErr)
	}
	p.wframe = frame
	err := p.raw.Control(p.writeFn)
	n, werr := p.wn, p.werr
	p.wframe = nil
	if err != nil {
		return fmt.Errorf("cannot write a ping to the server's stdin: %w", err)
	}
	switch {
	case errors.Is(werr, unix.EAGAIN):
		return probes.ErrWouldBlock
	case werr != nil:
		return fmt.Errorf("cannot write a ping to the server's stdin: %w", werr)
	case n != len(frame):
		// Cannot happen below PIPE_BUF; never leave half a frame.
		return fmt.Errorf("short ping write to the server's stdin (%d of %d bytes)", n, len(frame))
	}
	return nil
}

// writeFrame is tryWrite's write, under the frame lock.
func (p *pipePinger) writeFrame(fd uintptr) { p.wn, p.werr = unix.Write(int(fd), p.wframe) }

// writer is what the MCP client writes its frames through.
func (p *pipePinger) writer() io.WriteCloser { return (*frameWriter)(p) }

type frameWriter pipePinger

func (w *frameWriter) Write(b []byte) (int, error) {
	w.frames.Lock()
	defer w.frames.Unlock()
	return w.f.Write(b)
}

func (w *frameWriter) Close() error { return w.f.Close() }

// reader is what the MCP client reads the server's stdout through: every
// line but the answers to the heartbeat's pings.
func (p *pipePinger) reader(stdout io.Reader) io.Reader {
	return &answerFilter{p: p, r: bufio.NewReaderSize(stdout, 64<<10)}
}

type answerFilter struct {
	p    *pipePinger
	r    *bufio.Reader
	rest []byte // the part of a passed-through line not yet read
}

func (a *answerFilter) Read(b []byte) (int, error) {
	for len(a.rest) == 0 {
		line, err := a.r.ReadBytes('\n')
		if len(line) > 0 && !a.p.take(line, time.Now()) {
			a.rest = line
		}
		if err != nil && len(a.rest) == 0 {
			return 0, err
		}
		if err != nil {
			break // hand out the last line first; the error comes next Read
		}
	}
	n := copy(b, a.rest)
	a.rest = a.rest[n:]
	return n, nil
}

func (a rpcAnswer) probeErr() error {
	switch {
	case a.code != 0:
		return fmt.Errorf("probe answered with error %d: %s", a.code, a.message)
	case a.isError:
		return fmt.Errorf("%s returned a tool error", NoopTool)
	}
	return nil
}

// take consumes line if it answers one of the heartbeat's probes or a
// load call, calling its answered; it reports whether it did.
func (p *pipePinger) take(line []byte, at time.Time) bool {
	// The whole line: a server may write the id after a long result.
	if !bytes.Contains(line, []byte(`"`+pingIDPrefix)) && !bytes.Contains(line, []byte(`"`+loadIDPrefix)) {
		return false
	}
	id, a, ok := parseAnswer(line)
	if !ok {
		return false
	}
	if strings.HasPrefix(id, loadIDPrefix) {
		if l := p.load.Load(); l != nil {
			l.answer(id, at, a)
		}
		return true
	}
	p.mu.Lock()
	answered := p.pending[id]
	delete(p.pending, id)
	p.mu.Unlock()
	if answered != nil {
		answered(at, a)
	}
	return true // an answer to a forgotten probe is still ours, not the client's
}

// parseAnswer reads a JSON-RPC answer whose id is a probe's or a load
// call's; ok is false for any other line.
func parseAnswer(line []byte) (id string, a rpcAnswer, ok bool) {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Result *struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(line, &msg) != nil || msg.Method != "" || json.Unmarshal(msg.ID, &id) != nil {
		return "", a, false
	}
	if !(len(id) > len(pingIDPrefix) && id[:len(pingIDPrefix)] == pingIDPrefix) &&
		!(len(id) > len(loadIDPrefix) && id[:len(loadIDPrefix)] == loadIDPrefix) {
		return "", a, false
	}
	switch {
	case msg.Error != nil:
		a.code, a.message = msg.Error.Code, msg.Error.Message
		if a.code == 0 {
			a.code = -32603 // an error object without a code is still an error
		}
	case msg.Result != nil && msg.Result.IsError:
		a.isError = true
		if len(msg.Result.Content) > 0 {
			a.message = msg.Result.Content[0].Text
		}
	}
	return id, a, true
}
