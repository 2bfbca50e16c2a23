package debug

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func post(t *testing.T, url string) (int, []byte) {
	t.Helper()
	return do(t, http.MethodPost, url)
}

// do sends an empty request and returns the status and body.
func do(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, b
}

func start(t *testing.T, o Options) *Listener {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	l, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return l
}

func TestStart_refusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:80", "[::]:0", "127.0.0.1"} {
		l, err := Start(context.Background(), Options{Addr: addr})
		if err == nil {
			l.Stop(context.Background())
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
	_, err := Start(context.Background(), Options{Addr: "0.0.0.0:0"})
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Start(0.0.0.0:0) = %v, want ErrNotLoopback", err)
	}
	for _, addr := range []string{"localhost:0", "[::1]:0"} {
		l, err := Start(context.Background(), Options{Addr: addr})
		if err != nil {
			if strings.Contains(err.Error(), "cannot assign") || strings.Contains(err.Error(), "address family") {
				continue // no IPv6 loopback on this machine
			}
			t.Errorf("Start(%q): %v", addr, err)
			continue
		}
		l.Stop(context.Background())
	}
}

func TestStart_rejectsHandlerClash(t *testing.T) {
	_, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Handlers: map[string]http.Handler{"/metrics": http.NotFoundHandler()}})
	if err == nil {
		t.Fatal("a handler replacing /metrics was accepted")
	}
}

// The acceptance test: /metrics and /debug/pprof/goroutine answer
// while a call is in flight (here: a server handler blocked elsewhere).
func TestListener_answersWhileAHandlerIsBlocked(t *testing.T) {
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "debug.addr")
	release := make(chan struct{})
	entered := make(chan struct{})
	l := start(t, Options{
		AddrFile: addrFile,
		Vars:     func() any { return map[string]any{"logship": map[string]int{"emitted": 7}} },
		Handlers: map[string]http.Handler{"/debug/calls": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			io.WriteString(w, "released")
		})},
	})
	b, err := os.ReadFile(addrFile)
	if err != nil || string(b) != l.Addr()+"\n" {
		t.Fatalf("address file = %q, %v; want %q", b, err, l.Addr())
	}

	blocked := make(chan string, 1)
	go func() {
		resp, err := client.Get(l.URL() + "/debug/calls")
		if err != nil {
			blocked <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		blocked <- string(b)
	}()
	<-entered

	code, body := get(t, l.URL()+"/metrics")
	if code != 200 || !bytes.Contains(body, []byte("go_goroutines")) || !bytes.Contains(body, []byte("process_open_fds")) {
		t.Errorf("/metrics = %d:\n%.400s", code, body)
	}
	code, body = get(t, l.URL()+"/debug/pprof/goroutine?debug=2")
	if code != 200 || !bytes.Contains(body, []byte("TestListener_answersWhileAHandlerIsBlocked")) {
		t.Errorf("/debug/pprof/goroutine does not show the blocked handler (%d):\n%.2000s", code, body)
	}
	code, body = get(t, l.URL()+"/debug/vars")
	var vars map[string]map[string]int
	if code != 200 || json.Unmarshal(body, &vars) != nil || vars["logship"]["emitted"] != 7 {
		t.Errorf("/debug/vars = %d %s", code, body)
	}
	close(release)
	if got := <-blocked; got != "released" {
		t.Errorf("blocked call answered %q", got)
	}
}

func TestListener_pprofEndpoints(t *testing.T) {
	l := start(t, Options{})
	code, body := get(t, l.URL()+"/debug/pprof/")
	if code != 200 {
		t.Fatalf("/debug/pprof/ = %d", code)
	}
	for _, name := range []string{"goroutine", "block", "mutex", "heap", "allocs", "threadcreate", "profile", "trace", "cmdline", "symbol"} {
		if !bytes.Contains(body, []byte(name)) {
			t.Errorf("pprof index lacks %s", name)
		}
	}
	for _, path := range []string{"goroutine", "heap?gc=1", "allocs", "block", "mutex", "threadcreate", "cmdline", "symbol", "trace?seconds=0.05", "profile?seconds=1"} {
		if code, body := get(t, l.URL()+"/debug/pprof/"+path); code != 200 || len(body) == 0 {
			t.Errorf("/debug/pprof/%s = %d, %d bytes", path, code, len(body))
		}
	}
}

func TestListener_profilingSwitchesAndStopResets(t *testing.T) {
	l, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", MutexProfileFraction: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 3 {
		t.Errorf("mutex fraction after Start = %d, want 3", got)
	}
	code, body := get(t, l.URL()+"/debug/profiling?block=1000&mutex=5")
	var st debugapi.Profiling
	if code != 200 || json.Unmarshal(body, &st) != nil || st.BlockProfileRate != 1000 || st.MutexProfileFraction != 5 {
		t.Errorf("/debug/profiling = %d %s", code, body)
	}
	if code, _ := get(t, l.URL()+"/debug/profiling?block=-1"); code != http.StatusBadRequest {
		t.Errorf("negative rate accepted: %d", code)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 0 {
		t.Errorf("mutex fraction after Stop = %d, want 0", got)
	}
}

func TestListener_flightRecorder(t *testing.T) {
	l := start(t, Options{})
	if code, _ := get(t, l.URL()+"/debug/flightrecorder"); code != http.StatusConflict {
		t.Errorf("window before start = %d, want 409", code)
	}
	if code, body := get(t, l.URL()+"/debug/flightrecorder?start=1"); code != 200 {
		t.Fatalf("start = %d %s", code, body)
	}
	// Let the recorder see some activity.
	for range 100 {
		get(t, l.URL()+"/debug/profiling")
	}
	code, body := get(t, l.URL()+"/debug/flightrecorder")
	if code != 200 || !bytes.HasPrefix(body, []byte("go 1.")) {
		t.Errorf("window = %d, %d bytes, starts %q", code, len(body), body[:min(len(body), 16)])
	}
	t.Logf("flight recorder window: %d bytes", len(body))
	if code, _ := get(t, l.URL()+"/debug/flightrecorder?stop=1"); code != 200 {
		t.Errorf("stop = %d", code)
	}
}

func TestListener_runtimeJSON(t *testing.T) {
	l := start(t, Options{})
	code, body := get(t, l.URL()+debugapi.PathRuntime)
	var rt debugapi.Runtime
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // every key is the contract's
	if code != 200 || dec.Decode(&rt) != nil {
		t.Fatalf("/debug/runtime = %d %.500s", code, body)
	}
	if rt.Goroutines <= 0 || rt.GOMAXPROCS <= 0 || rt.HeapObjectsBytes <= 0 || rt.GCCycles < 0 {
		t.Errorf("runtime counters missing: %+v", rt)
	}
	lat := rt.SchedLatencies
	if lat.Count == 0 || len(lat.Buckets) == 0 || lat.P99 < lat.P50 || lat.Max < lat.P99 {
		t.Errorf("sched latencies = %+v", lat)
	}
	if rt.OpenFDs <= 0 || rt.RSSBytes <= 0 {
		t.Errorf("open_fds = %d, rss = %d", rt.OpenFDs, rt.RSSBytes)
	}
	t.Logf("sched latency p50=%gs p99=%gs max=%gs over %d samples; fds=%d rss=%d MiB", lat.P50, lat.P99, lat.Max, lat.Count, rt.OpenFDs, rt.RSSBytes>>20)
}

func TestStop_removesAddrFileAndRefusesConnections(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "addr")
	l, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", AddrFile: addrFile, FlightRecorder: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(addrFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address file still there: %v", err)
	}
	if _, err := client.Get(l.URL() + "/metrics"); err == nil {
		t.Error("listener still answers after Stop")
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestSummarise(t *testing.T) {
	h := &metricsHist{counts: []uint64{0, 5, 94, 1}, buckets: []float64{0, 1, 2, 3, 4}}
	s := summarise(h.toRuntime())
	if s.Count != 100 || s.P50 != 3 || s.P99 != 3 || s.Max != 4 || len(s.Buckets) != 3 {
		t.Errorf("summarise = %+v", s)
	}
}
