package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes"
)

// runtimeSource reads the server's runtime numbers from its debug
// listener's /debug/runtime. A server whose listener does not serve it (an
// older build, another implementation) is read another way: the goroutine
// total from the goroutine profile, open fds and RSS from /proc/<pid>; the
// scheduling latency is then not measured (and the run's validity cannot
// check it — the watcher notes that).
type runtimeSource struct {
	dc       *probes.DebugClient
	pid      int
	procRoot string // "/proc"; tests point it elsewhere
	fallback atomic.Bool
}

func newRuntimeSource(dc *probes.DebugClient, pid int) *runtimeSource {
	return &runtimeSource{dc: dc, pid: pid, procRoot: "/proc"}
}

// Runtime implements probes.RuntimeSource.
func (s *runtimeSource) Runtime(ctx context.Context) (probes.RuntimeStats, error) {
	if !s.fallback.Load() {
		rs, err := s.dc.Runtime(ctx)
		if !errors.Is(err, probes.ErrNotServed) {
			return rs, err
		}
		s.fallback.Store(true)
	}
	at := time.Now()
	n, err := s.dc.GoroutineCount(ctx)
	if err != nil {
		return probes.RuntimeStats{}, err
	}
	rs := probes.RuntimeStats{At: at, Goroutines: n, OpenFDs: -1, RSSBytes: -1}
	if s.pid > 0 {
		if fds, err := os.ReadDir(fmt.Sprintf("%s/%d/fd", s.procRoot, s.pid)); err == nil {
			rs.OpenFDs = int64(len(fds))
		}
		if b, err := os.ReadFile(fmt.Sprintf("%s/%d/status", s.procRoot, s.pid)); err == nil {
			rs.RSSBytes = parseVmRSS(b)
		}
	}
	return rs, nil
}

// Fallback reports whether /debug/runtime was missing.
func (s *runtimeSource) Fallback() bool { return s.fallback.Load() }

// parseVmRSS finds "VmRSS:   1234 kB" in /proc/<pid>/status; -1 if absent.
func parseVmRSS(status []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return -1
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return kb << 10
	}
	return -1
}
