package faults

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unsafe"
)

// Dispatch is the stdio dispatch hook (server.DispatchHook): the stdio
// read loop calls it for each tools/call once the call's handler is ready
// to run as run, before starting it. It reports whether it has taken run
// over (run will be called by the hook's worker).
func (s *Set) Dispatch(ctx context.Context, params json.RawMessage, run func()) bool {
	if s == nil {
		return false
	}
	if s.on[BlockingFileIO] {
		readContext(params) // FAULT: file I/O on the read loop
	}
	return s.pool != nil && s.pool.submit(ctx, run) // FAULT: blocks the read loop while the one worker is busy
}

// ---- worker-pool ----

// workerPool is a dispatch pool of one worker fed by an unbuffered
// channel. submit runs on the stdin read loop, so while the worker is busy
// nothing else — ping, cancel — is read.
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

// Read sizes: one disk sector per read call, so every call is a device
// round trip — the cost profile of a cold or slow (network) disk. A device
// with 4 KiB sectors refuses 512-byte direct reads (EINVAL); the fault then
// reads 4 KiB at a time.
const (
	coldReadSector = 512
	coldReadPage   = 4096
)

// readContext reads every file named in a tools/call's context and
// priority_context synchronously, on the read loop: stat, open and read
// each file while nothing else — ping, cancel — is dispatched. It returns
// how many bytes it read.
//
// The reads bypass the page cache where the OS allows it (O_DIRECT on
// Linux; see openUncached) and go one block at a time: the harness's tree
// was just written, so cached reads of it cost a few milliseconds and hide
// the bug, while real users' projects sit on real disks. With the cache
// bypassed each block is a device read, as on a cold or slow disk (on a
// virtio disk, ~0.8 s for 100 files of 48 KiB; the cached read took 3 ms).
func readContext(params json.RawMessage) int {
	buf := alignedBlock(coldReadPage)
	block := coldReadSector
	n := 0
	for _, path := range contextFiles(params) {
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
	return n
}

// contextFiles lists the regular files under the paths of a tools/call's
// context and priority_context arguments, each tree in name order.
func contextFiles(params json.RawMessage) []string {
	var p struct {
		Arguments struct {
			Context  json.RawMessage `json:"context"`
			Priority json.RawMessage `json:"priority_context"`
		} `json:"arguments"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil
	}
	var files []string
	for _, root := range append(pathList(p.Arguments.Context), pathList(p.Arguments.Priority)...) {
		var tree []string
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				tree = append(tree, path)
			}
			return nil
		})
		sort.Strings(tree)
		files = append(files, tree...)
	}
	return files
}

// pathList reads a list of paths given as a JSON list, a string, or a
// string holding a JSON list (as the tools accept them); nil otherwise.
func pathList(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(raw, &one) != nil {
		return nil
	}
	if t := strings.TrimSpace(one); strings.HasPrefix(t, "[") {
		if json.Unmarshal([]byte(t), &list) == nil {
			return list
		}
		return nil
	}
	return []string{one}
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
