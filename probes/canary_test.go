package probes

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file re-create each canary's blocking pattern inside
// the test process, with real goroutines, pipes, sockets and FIFOs, take
// real goroutine profiles (debug=2 text and debug=0 proto) and check that
// the diagnosis names the cause and the culprit function.

// captureDump takes a goroutine dump of this process, both formats.
func captureDump(t *testing.T) *GoroutineDump {
	t.Helper()
	var text, proto bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&proto, 0); err != nil {
		t.Fatal(err)
	}
	if err := pprof.Lookup("goroutine").WriteTo(&text, 2); err != nil {
		t.Fatal(err)
	}
	d, err := NewGoroutineDump(time.Now(), text.Bytes(), proto.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFor polls dumps until n request-path goroutines are in a state with
// a frame containing fn, and returns the dump.
func waitFor(t *testing.T, n int, fn string, states ...string) *GoroutineDump {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := captureDump(t)
		got := 0
		for _, g := range d.Goroutines {
			if p, _ := ClassifyPath(g.Labels, g.Stack); p != PathRequest || !anyFrame(g.Stack, fn) {
				continue
			}
			for _, s := range states {
				if baseState(g.State) == s {
					got++
				}
			}
		}
		if got >= n {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d goroutines in %s %v; have %d", n, fn, states, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idleBaseline waits until a goroutine in fn is parked receiving, and
// returns the process's goroutines then: a baseline with an idle worker.
func idleBaseline(t *testing.T, fn string) []Goroutine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := captureDump(t)
		for _, g := range d.Goroutines {
			if baseState(g.State) == "chan receive" && anyFrame(g.Stack, fn) {
				return d.Goroutines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for an idle %s", fn)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// asRequest runs f on a new goroutine labelled like the server's request
// path.
func asRequest(wg *sync.WaitGroup, tool string, f func(ctx context.Context)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		pprof.Do(context.Background(), pprof.Labels(LabelPath, "request", LabelTool, tool), f)
	}()
}

type canaryCase struct {
	name        string
	wantCause   string
	wantCulprit string // substring of the culprit frame
	// setup starts the blocked goroutines, returns the function name to
	// wait for, how many, in which states, and a release func. It may set
	// the baseline (the goroutines while "the server" was idle).
	setup func(t *testing.T, wg *sync.WaitGroup, base *[]Goroutine) (fn string, n int, states []string, release func())
}

// syncStderrHandler is the sync-stderr canary: every record written inline,
// under a lock, to a pipe the host may stop reading.
type syncStderrHandler struct {
	mu sync.Mutex
	w  io.Writer
}

func (h *syncStderrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *syncStderrHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *syncStderrHandler) WithGroup(string) slog.Handler            { return h }
func (h *syncStderrHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, r.Message+"\n")
	return err
}

// syncPostHandler is the sync-log canary: every record POSTed inline, under
// a lock, to a sink that may stall.
type syncPostHandler struct {
	mu     sync.Mutex
	client *http.Client
	url    string
}

func (h *syncPostHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *syncPostHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *syncPostHandler) WithGroup(string) slog.Handler            { return h }
func (h *syncPostHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	resp, err := h.client.Post(h.url, "application/stream+json", strings.NewReader(r.Message))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// stalledServer answers only once release is closed.
func stalledServer(t *testing.T) (*httptest.Server, func()) {
	srv, stop, _ := stalledServerArrivals(t)
	return srv, stop
}

// stalledServerArrivals is stalledServer that also signals, once per
// request, that the request's body has been read: its client has a
// connection and waits for the answer.
func stalledServerArrivals(t *testing.T) (*httptest.Server, func(), <-chan struct{}) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	var once sync.Once
	return srv, func() { once.Do(func() { close(release) }); srv.Close() }, arrived
}

func acquireSem(ctx context.Context, sem chan struct{}) {
	select {
	case sem <- struct{}{}:
		<-sem
	case <-ctx.Done():
	}
}

func lockStore(mu *sync.Mutex) {
	mu.Lock()
	mu.Unlock() //nolint:staticcheck // the canary only needs to wait for the lock
}

func submitToPool(jobs chan<- func(), job func()) { jobs <- job }

func poolWorker(jobs <-chan func()) {
	for j := range jobs {
		j()
	}
}

func uploadFile(ctx context.Context, c *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("file"))
	if resp, err := c.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

func callModel(ctx context.Context, c *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	if resp, err := c.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

func readConfigFile(path string) { _, _ = os.ReadFile(path) }

func canaryCases() []canaryCase {
	return []canaryCase{
		{
			name: "sync-stderr", wantCause: CauseStderrWrite, wantCulprit: "syncStderrHandler).Handle",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				h := &syncStderrHandler{w: w}
				log := slog.New(h)
				line := strings.Repeat("skipping duplicate file ", 4096) // ~100 KiB: fills a 64 KiB pipe
				for range 4 {
					asRequest(wg, "second_brain", func(ctx context.Context) { log.InfoContext(ctx, line) })
				}
				return "syncStderrHandler).Handle", 4, []string{"IO wait", "syscall", "sync.Mutex.Lock"}, func() {
					_ = r.Close() // writers get EPIPE and return
					wg.Wait()
					_ = w.Close()
				}
			},
		},
		{
			name: "sync-log", wantCause: CauseLogShippingIO, wantCulprit: "syncPostHandler).Handle",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				srv, stop := stalledServer(t)
				tr := &http.Transport{}
				h := &syncPostHandler{client: &http.Client{Transport: tr}, url: srv.URL + "/insert/jsonline"}
				log := slog.New(h)
				for range 4 {
					asRequest(wg, "second_brain", func(ctx context.Context) { log.InfoContext(ctx, "skipping duplicate file") })
				}
				return "syncPostHandler).Handle", 4, []string{"select", "sync.Mutex.Lock"}, func() {
					stop()
					wg.Wait()
					tr.CloseIdleConnections()
				}
			},
		},
		{
			name: "held-semaphore", wantCause: CauseSemaphoreHeld, wantCulprit: "probes.acquireSem",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				sem := make(chan struct{}, 1)
				sem <- struct{}{} // left held by a cancelled call that never released it
				ctx, cancel := context.WithCancel(context.Background())
				for range 3 {
					asRequest(wg, "second_brain", func(context.Context) { acquireSem(ctx, sem) })
				}
				return "probes.acquireSem", 3, []string{"select"}, func() { cancel(); wg.Wait() }
			},
		},
		{
			name: "held-mutex", wantCause: CauseSemaphoreHeld, wantCulprit: "probes.lockStore",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				var mu sync.Mutex
				mu.Lock()
				for range 3 {
					asRequest(wg, "second_brain", func(context.Context) { lockStore(&mu) })
				}
				return "probes.lockStore", 3, []string{"sync.Mutex.Lock"}, func() { mu.Unlock(); wg.Wait() }
			},
		},
		{
			name: "worker-pool", wantCause: CauseWorkerPool, wantCulprit: "probes.submitToPool",
			setup: func(t *testing.T, wg *sync.WaitGroup, base *[]Goroutine) (string, int, []string, func()) {
				jobs := make(chan func()) // unbuffered: a pool of one worker, no queue
				busy := make(chan struct{})
				var pool sync.WaitGroup
				pool.Add(1)
				go func() { defer pool.Done(); poolWorker(jobs) }()
				*base = idleBaseline(t, "probes.poolWorker")
				// the one worker is taken by a long call: request work
				jobs <- func() {
					pprof.Do(context.Background(), pprof.Labels(LabelPath, "request", LabelTool, "second_brain"),
						func(context.Context) { <-busy })
				}
				for range 3 {
					asRequest(wg, "noop", func(context.Context) { submitToPool(jobs, func() {}) })
				}
				return "probes.submitToPool", 3, []string{"chan send"}, func() {
					close(busy)
					wg.Wait()
					close(jobs)
					pool.Wait()
				}
			},
		},
		{
			name: "conn-pool", wantCause: CauseConnPool, wantCulprit: "probes.uploadFile",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				srv, stop := stalledServer(t)
				tr := &http.Transport{MaxConnsPerHost: 1}
				c := &http.Client{Transport: tr} // no timeout: the canary's bug
				ctx, cancel := context.WithCancel(context.Background())
				for range 4 {
					asRequest(wg, "second_brain", func(context.Context) { uploadFile(ctx, c, srv.URL+"/v1/files") })
				}
				return "probes.uploadFile", 4, []string{"select"}, func() {
					cancel()
					stop()
					wg.Wait()
					tr.CloseIdleConnections()
				}
			},
		},
		{
			name: "blocking-file-io", wantCause: CauseBlockingFile, wantCulprit: "probes.readConfigFile",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				fifo := filepath.Join(t.TempDir(), "context.fifo")
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
				// open(2) of a FIFO blocks until a writer shows up: a
				// file read that never returns, as on a hung mount.
				asRequest(wg, "second_brain", func(context.Context) { readConfigFile(fifo) })
				return "probes.readConfigFile", 1, []string{"syscall"}, func() {
					w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
					if err == nil {
						_ = w.Close()
					}
					wg.Wait()
				}
			},
		},
		{
			name: "slow-upstream", wantCause: CauseSlowUpstream, wantCulprit: "probes.callModel",
			setup: func(t *testing.T, wg *sync.WaitGroup, _ *[]Goroutine) (string, int, []string, func()) {
				srv, stop, arrived := stalledServerArrivals(t)
				tr := &http.Transport{}
				c := &http.Client{Transport: tr}
				ctx, cancel := context.WithCancel(context.Background())
				for range 2 {
					asRequest(wg, "second_brain", func(context.Context) { callModel(ctx, c, srv.URL+"/v1/responses") })
				}
				// Until the server has both requests a caller may still be
				// dialling (getConn, a conn-pool wait): a dump then would
				// split one wait between two causes.
				for range 2 {
					<-arrived
				}
				return "probes.callModel", 2, []string{"select"}, func() {
					cancel()
					stop()
					wg.Wait()
					tr.CloseIdleConnections()
				}
			},
		},
	}
}

func TestDiagnose_realCanaries(t *testing.T) {
	for _, tc := range canaryCases() {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			var base []Goroutine
			fn, n, states, release := tc.setup(t, &wg, &base)
			d1 := waitFor(t, n, fn, states...)
			time.Sleep(50 * time.Millisecond)
			d2 := captureDump(t)
			release()

			diag := Diagnose(Evidence{Dumps: []*GoroutineDump{d1, d2}, Baseline: base}, DiagnoseOptions{})
			if diag == nil {
				t.Fatal("no diagnosis")
			}
			t.Logf("%s → cause=%s culprit=%s; %s", tc.name, diag.Cause, diag.Culprit, diag.Summary)
			for i, f := range diag.Frames {
				t.Logf("  #%d %s %s goroutines=%d wait=%.0fms", i+1, f.Cause, f.Frame, f.Goroutines, f.WaitMS)
			}
			if diag.Cause != tc.wantCause {
				t.Errorf("cause = %q; want %q", diag.Cause, tc.wantCause)
			}
			if !strings.Contains(diag.Culprit, tc.wantCulprit) || !strings.Contains(diag.Culprit, "canary_test.go:") {
				t.Errorf("culprit = %q; want %q (canary_test.go:N)", diag.Culprit, tc.wantCulprit)
			}
			if tc.wantCause == CauseWorkerPool && (diag.Holder == nil || !strings.Contains(diag.Holder.Frame, "canary_test.go:")) {
				t.Errorf("holder = %+v; want the busy worker", diag.Holder)
			}
			if diag.Frames[0].WaitMS < 40 {
				t.Errorf("top wait = %.1f ms; the goroutines were seen in two dumps 50 ms apart", diag.Frames[0].WaitMS)
			}
		})
	}
}

// TestDiagnose_healthyRequestsIgnored: request goroutines that run,
// sleep on purpose or wait in transport plumbing are no culprits.
func TestDiagnose_healthyRequestsIgnored(t *testing.T) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	asRequest(&wg, "noop", func(context.Context) {
		for {
			select {
			case <-stop:
				return
			default:
				time.Sleep(time.Millisecond)
			}
		}
	})
	time.Sleep(20 * time.Millisecond)
	d := captureDump(t)
	close(stop)
	wg.Wait()
	if diag := Diagnose(Evidence{Dumps: []*GoroutineDump{d}}, DiagnoseOptions{}); diag != nil {
		t.Errorf("diagnosis on a healthy process = %+v", diag)
	}
}

// TestLongWaits_logShipping is the verdict input "request-path goroutines
// waiting > 100 ms in log shipping".
func TestLongWaits_logShipping(t *testing.T) {
	for _, tc := range canaryCases()[:2] {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			fn, n, states, release := tc.setup(t, &wg, new([]Goroutine))
			d1 := waitFor(t, n, fn, states...)
			time.Sleep(120 * time.Millisecond)
			d2 := captureDump(t)
			release()
			if got := LongWaits([]*GoroutineDump{d1, d2}, 100*time.Millisecond, CauseLogShippingIO, CauseStderrWrite); got != n {
				t.Errorf("long waits = %d; want %d", got, n)
			}
			if got := LongWaits([]*GoroutineDump{d1}, 100*time.Millisecond, CauseLogShippingIO, CauseStderrWrite); got != 0 {
				t.Errorf("one dump proves no 100 ms wait; got %d", got)
			}
		})
	}
}
