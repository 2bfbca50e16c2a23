package logship

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// victoriaLogsModule is the VictoriaLogs server the integration test runs.
const victoriaLogsModule = "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.1"

// findVictoriaLogs returns the victoria-logs binary: from PATH, from
// $(go env GOPATH)/bin, or freshly built with go install (about a minute
// cold) so that a fresh CI machine needs nothing but Go and the network.
func findVictoriaLogs(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("victoria-logs"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("cannot run go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(strings.Split(string(gopath), string(os.PathListSeparator))[0]), "bin", "victoria-logs")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("victoria-logs not found; building %s", victoriaLogsModule)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "install", victoriaLogsModule).CombinedOutput()
	if err != nil {
		t.Fatalf("cannot go install %s: %v\n%s", victoriaLogsModule, err, out)
	}
	return bin
}

// startVictoriaLogs runs a real VictoriaLogs on a loopback port with a
// temporary storage directory; t.Cleanup stops it.
func startVictoriaLogs(t *testing.T) string {
	t.Helper()
	bin := findVictoriaLogs(t)
	addr := deadAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"-storageDataPath="+t.TempDir(),
		"-httpListenAddr="+addr,
		"-retentionPeriod=1d",
		"-loggerLevel=WARN",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("victoria-logs output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("victoria-logs exited at start: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("victoria-logs not healthy after 30s: %v", err)
		}
	}
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("cannot GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return b
}

// metricValue sums a Prometheus text-format metric's samples whose line
// contains every filter.
func metricValue(metrics []byte, name string, filters ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(metrics))
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, f := range filters {
			if !strings.Contains(line, f) {
				continue next
			}
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// The acceptance test: 100,000 records from 50 goroutines into a
// real VictoriaLogs, counted by what it stored, not by what it acknowledged.
func TestVictoriaLogs_realServerStoresEveryRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real VictoriaLogs")
	}
	base := startVictoriaLogs(t)
	run := fmt.Sprintf("run%d", time.Now().UnixNano())
	s, err := StartShipper(ShipperOptions{
		URL: base,
		// Sized for the burst: 50 goroutines in tight loops outrun any sink
		// for a moment, and a healthy sink must lose nothing.
		MaxQueueRecords: 200000,
		MaxQueueBytes:   128 << 20,
		RequestTimeout:  30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(s).With(Component("integration"), slog.String("run", run))
	const goroutines, perG = 50, 2000
	start := time.Now()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				log.Info("skipping duplicate file", "seq", g*perG+i, Tool("ask"), Session("s"), RequestID(i), Model("o3"))
			}
		})
	}
	wg.Wait()
	logged := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	shipped := time.Since(start)
	st := s.Stats()
	checkInvariant(t, "victorialogs", st.SinkStats)
	const want = goroutines * perG
	if st.Emitted != want || st.Delivered != want || st.DroppedTotal != 0 {
		t.Fatalf("emitted %d delivered %d dropped %v; want %d, %d, 0", st.Emitted, st.Delivered, st.Dropped, want, want)
	}

	httpGet(t, base+"/internal/force_flush")
	ingested := metricValue(httpGet(t, base+"/metrics"), "vl_rows_ingested_total")
	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	rows, err := Query(qctx, base, fmt.Sprintf("run:%s | stats count() as n, count_uniq(seq) as u", run), 10, 1<<20)
	if err != nil || len(rows) != 1 {
		t.Fatalf("count query: %v, %v", rows, err)
	}
	n, _ := strconv.Atoi(fmt.Sprint(rows[0]["n"]))
	u, _ := strconv.Atoi(fmt.Sprint(rows[0]["u"]))
	t.Logf("logged %d records from %d goroutines in %v, shipped by %v in %d batches (batch latency %+v); "+
		"VictoriaLogs stored %d (%d distinct seq), vl_rows_ingested_total=%.0f",
		want, goroutines, logged, shipped, st.Batches, st.BatchLatency, n, u, ingested)
	if n != want || u != want {
		t.Errorf("VictoriaLogs stored %d records (%d distinct), want %d", n, u, want)
	}
	if int(ingested) != want {
		t.Errorf("vl_rows_ingested_total = %.0f, want %d", ingested, want)
	}

	// The search_mcp_debug_logs path: bounded by count and by bytes.
	recs, err := Query(qctx, base, "run:"+run+" AND seq:42", 10, 1<<20)
	if err != nil || len(recs) != 1 || recs[0]["_msg"] != "skipping duplicate file" || recs[0]["model"] != "o3" {
		t.Errorf("Query seq:42 = %v, %v", recs, err)
	}
	recs, err = Query(qctx, base, "run:"+run, 50, 1<<20)
	if err != nil || len(recs) != 50 {
		t.Errorf("Query limit 50: %d records, %v", len(recs), err)
	}
	recs, err = Query(qctx, base, "run:"+run, 1000, 4096)
	if !errors.Is(err, ErrTruncated) || len(recs) == 0 || len(recs) >= 1000 {
		t.Errorf("Query 4 KiB bound: %d records, %v; want some, and ErrTruncated", len(recs), err)
	}
}
