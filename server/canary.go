package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Canary names (issue 7): each re-creates a root cause the seeds suspected,
// so the harness can prove it catches and names it. NEVER on by default;
// set only by `serve --canary`. The two log canaries are logship's
// --log-shipping sync modes, and conn-pool is an HTTP client setting made by
// the command; the three below live here.
const (
	CanaryHeldSemaphore  = "held-semaphore"   // a model-call semaphore a cancelled call leaves held
	CanaryWorkerPool     = "worker-pool"      // tools/call dispatched through a pool of one, on the read loop
	CanaryBlockingFileIO = "blocking-file-io" // context files read synchronously on the dispatch path
	CanaryConnPool       = "conn-pool"        // provider HTTP pool of one connection, no timeouts (set by cmd)
	CanarySyncLog        = "sync-log"         // = --log-shipping sync-log
	CanarySyncStderr     = "sync-stderr"      // = --log-shipping sync-stderr
	CanaryGoroutineLeak  = "goroutine-leak"   // every model call leaves a goroutine behind
	CanaryCPUHotPath     = "cpu-hot-path"     // every model call re-hashes what all earlier ones sent
	CanaryHeldLock       = "held-lock"        // a background compaction holds the lock every model call takes
)

// KnownCanaries lists every canary name accepted by `serve --canary`.
func KnownCanaries() []string {
	return []string{CanarySyncLog, CanarySyncStderr, CanaryHeldSemaphore, CanaryWorkerPool, CanaryConnPool, CanaryBlockingFileIO,
		CanaryGoroutineLeak, CanaryCPUHotPath, CanaryHeldLock}
}

// ParseCanaries validates names.
func ParseCanaries(names []string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, k := range KnownCanaries() {
		known[k] = true
	}
	out := map[string]bool{}
	for _, n := range names {
		if !known[n] {
			return nil, fmt.Errorf("unknown canary %q; known: %s", n, strings.Join(KnownCanaries(), ", "))
		}
		out[n] = true
	}
	return out, nil
}

// ---- held-semaphore ----

// acquireModelSlot takes the one model-call slot (canary held-semaphore). The
// matching release is skipped when the call is cancelled — the bug the seeds
// suspected in the OpenAI SDK — so every later model call waits here.
func (s *Server) acquireModelSlot(ctx context.Context) error {
	select {
	case s.canarySem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) releaseModelSlot(ctx context.Context) {
	if ctx.Err() != nil {
		return // CANARY: a cancelled call leaves the semaphore held
	}
	<-s.canarySem
}

// ---- goroutine-leak ----

// watchCall starts a goroutine that waits for the model call's outcome to
// log it (canary goroutine-leak). Nothing ever reports the outcome: every
// model call leaves the goroutine parked on its channel, alive for the
// server's lifetime.
func (s *Server) watchCall(tool string) {
	outcome := make(chan error)
	go func() {
		if err := <-outcome; err != nil {
			s.log.Debug("model call failed", "tool", tool, "err", err)
		}
	}()
}

// ---- cpu-hot-path ----

// rehashHistory re-hashes, on the request path, everything the earlier
// model calls of this server sent — a de-duplication cache keyed wrongly
// (canary cpu-hot-path). The first call costs nothing, each later one about
// a second of CPU more: the seeds' "second query" slows down with no wait
// and no upstream to blame.
func (s *Server) rehashHistory() {
	n := s.canaryCalls.Add(1) - 1
	var sum [sha256.Size]byte
	block := make([]byte, 1<<20)
	for range 1500 * n {
		sum = sha256.Sum256(block)
		block[0] = sum[0]
	}
}

// ---- held-lock ----

// historyCompaction is how long the background compaction of canary
// held-lock holds the history lock (scenario time).
const historyCompaction = time.Minute

// lockHistory is taken by every model call before it starts (canary
// held-lock): it waits while a compaction holds the lock.
func (s *Server) lockHistory() {
	s.canaryHistory.Lock()
	defer s.canaryHistory.Unlock()
}

// compactHistoryLater starts, after a model call, a background
// "compaction" that holds the history lock for a minute of scenario time:
// the next query waits for it, with no upstream to blame.
func (s *Server) compactHistoryLater() {
	s.bg.Go(func() {
		s.canaryHistory.Lock()
		defer s.canaryHistory.Unlock()
		_ = clock.Sleep(s.bgCtx, s.clk, historyCompaction)
	})
}

// ---- worker-pool ----

// workerPool is a dispatch pool of one worker fed by an unbuffered channel
// (canary worker-pool). submit runs on the stdin read loop, so while the
// worker is busy nothing else — ping, cancel — is read: mcp-go's trap.
type workerPool struct {
	jobs chan func()
	done chan struct{}
}

func startWorkerPool() *workerPool {
	p := &workerPool{jobs: make(chan func()), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for job := range p.jobs {
			job()
		}
	}()
	return p
}

// submit blocks until the single worker takes the job or ctx ends (then it
// reports false and the caller runs the job itself).
func (p *workerPool) submit(ctx context.Context, job func()) bool {
	select {
	case p.jobs <- job:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *workerPool) stop() {
	close(p.jobs)
	<-p.done
}

// ---- blocking-file-io ----

// Read sizes of the blocking-file-io canary: one disk sector per read call,
// so every call is a device round trip — the cost profile of a cold or slow
// (network) disk. A device with 4 KiB sectors refuses 512-byte direct reads
// (EINVAL); the canary then reads 4 KiB at a time.
const (
	coldReadSector = 512
	coldReadPage   = 4096
)

// readContextOnDispatch reads every file named in a tools/call's context and
// priority_context synchronously on the read loop (canary blocking-file-io),
// as the original did before it moved file I/O to a thread pool: stat, open
// and read each file while nothing else — ping, cancel — is dispatched.
//
// The reads bypass the page cache where the OS allows it (O_DIRECT on
// Linux; see openUncached) and go one block at a time: the harness's tree
// was just written, so cached reads of it cost a few milliseconds and hide
// the bug, while the seeds' users ran on real projects on real disks. With
// the cache bypassed each block is a device read, as on a cold or slow
// disk, and the read loop is held for as long as the disk takes (on the
// dev box's virtio disk, ~0.8 s for the 100 files of 48 KiB a catalog call
// sends; the page-cached read took 3 ms).
func readContextOnDispatch(params json.RawMessage) int {
	var p struct {
		Arguments struct {
			Context  any `json:"context"`
			Priority any `json:"priority_context"`
		} `json:"arguments"`
	}
	if json.Unmarshal(params, &p) != nil {
		return 0
	}
	var paths []string
	for _, v := range []any{p.Arguments.Context, p.Arguments.Priority} {
		list, _ := args{"x": v}.strs("x", false)
		paths = append(paths, list...)
	}
	buf := alignedBlock(coldReadPage)
	block := coldReadSector
	n := 0
	for _, root := range paths {
		var files []string
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
		sort.Strings(files)
		// Inline, not in a helper: the diagnosis names the innermost
		// server frame, and that must be this function.
		for _, path := range files {
			if _, err := os.Stat(path); err != nil {
				continue
			}
			f, err := openUncached(path)
			if err != nil {
				continue
			}
			for {
				m, err := f.Read(buf[:block])
				n += m
				if errors.Is(err, syscall.EINVAL) && block < coldReadPage {
					block = coldReadPage // a 4 KiB-sector device
					continue
				}
				if err != nil || m == 0 {
					break
				}
			}
			_ = f.Close() // read-only: nothing to lose
		}
	}
	return n
}

// alignedBlock returns a size-byte buffer aligned to a 4 KiB boundary, as
// O_DIRECT reads require.
func alignedBlock(size int) []byte {
	const align = 4096
	b := make([]byte, size+align)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	if off != 0 {
		off = align - off
	}
	return b[off : off+size]
}
