package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"
)

// fakeProc is `secondbrain fakeai` or `secondbrain fakesink` run as a
// subprocess of the test binary (SB_RUN_MAIN=1).
type fakeProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // first line of stdout
	stderr *lockedBuffer
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

// startFakeProc starts the subcommand and reads the base URL from the first
// line of stdout (bounded). The process is killed at cleanup if still running.
func startFakeProc(t *testing.T, args ...string) *fakeProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SB_RUN_MAIN=1") // GORACE: see TestMain
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProc{t: t, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		_, _ = io.Copy(io.Discard, stdout) // keep draining until the process exits
	}()
	go func() {
		<-read // Wait closes the pipe: read it to the end first
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case line, ok := <-first:
		if !ok || !strings.HasPrefix(line, "http://127.0.0.1:") {
			t.Fatalf("%s: first stdout line %q is not a loopback base URL; stderr:\n%s", args[0], line, p.stderr.String())
		}
		p.base = line
	case <-time.After(20 * time.Second):
		t.Fatalf("%s printed no base URL within 20 s; stderr:\n%s", args[0], p.stderr.String())
	}
	return p
}

// interrupt sends SIGINT and requires a clean exit (status 0) within 10 s.
func (p *fakeProc) interrupt() {
	p.t.Helper()
	t0 := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s did not exit within 10 s of SIGINT; stderr:\n%s", p.cmd.Args[1], p.stderr.String())
	}
	if p.err != nil {
		p.t.Errorf("%s exited with %v after SIGINT (want status 0); stderr:\n%s", p.cmd.Args[1], p.err, p.stderr.String())
	}
	p.t.Logf("%s stopped %v after SIGINT", p.cmd.Args[1], time.Since(t0).Round(time.Millisecond))
}

// getJSON GETs url into v (bounded).
func getJSON(t *testing.T, hc *http.Client, url string, v any) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
}

// postJSON POSTs body to url and returns the status (bounded).
func postBody(t *testing.T, hc *http.Client, url, contentType, body string) (int, string) {
	t.Helper()
	resp, err := hc.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// verifyNoLeaks registers a goroutine-leak check that runs after every other
// cleanup of the test (cleanups run last-registered first).
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// `secondbrain fakeai` standalone — base URL on the first line, the
// real SDK against it, the store limit, the control API, a clean SIGINT stop.
func TestFakeAICommand(t *testing.T) {
	verifyNoLeaks(t)
	p := startFakeProc(t, "fakeai", "--listen", "127.0.0.1:0", "--store-limit", "2", "--time-scale", "60")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	oc := openai.NewClient(option.WithBaseURL(p.base+"/v1/"), option.WithAPIKey("any-key"), option.WithHTTPClient(hc),
		option.WithMaxRetries(0), option.WithRequestTimeout(10*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	models, err := oc.Models.List(ctx)
	if err != nil {
		t.Fatalf("models list: %v", err)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Contains(ids, "o3") || !slices.Contains(ids, "gpt-4.1") {
		t.Errorf("models listed: %v", ids)
	}

	var created []string
	for i := 0; i < 2; i++ {
		vs, err := oc.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("cmd-test")})
		if err != nil {
			t.Fatalf("vector store %d of a limit of 2 refused: %v", i+1, err)
		}
		created = append(created, vs.ID)
	}
	_, err = oc.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("cmd-test")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != "vector_store_limit_exceeded" {
		t.Fatalf("3rd vector store with --store-limit 2: err %v, want 400 vector_store_limit_exceeded", err)
	}

	// The control API: raise the limit at run time, then the 3rd store is accepted.
	if code, body := postBody(t, hc, p.base+"/_fault", "application/json", `{"store_limit":3}`); code != http.StatusOK {
		t.Fatalf("POST /_fault: %d %s", code, body)
	}
	var faults map[string]any
	getJSON(t, hc, p.base+"/_fault", &faults)
	if faults["store_limit"] != float64(3) {
		t.Errorf("GET /_fault after setting store_limit 3: %v", faults)
	}
	if _, err := oc.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("cmd-test")}); err != nil {
		t.Errorf("3rd vector store after raising the limit to 3: %v", err)
	}
	var stats map[string]int64
	getJSON(t, hc, p.base+"/_stats", &stats)
	want := map[string]int64{"vector_stores_created": 3, "vector_stores_refused": 1, "vector_stores_alive": 3}
	for k, v := range want {
		if stats[k] != v {
			t.Errorf("/_stats %s = %d, want %d (all: %v)", k, stats[k], v, stats)
		}
	}
	if stats["requests_total"] < 5 {
		t.Errorf("/_stats requests_total = %d, want >= 5", stats["requests_total"])
	}
	hc.CloseIdleConnections()
	p.interrupt()
}

// `secondbrain fakesink` standalone — base URL first, JSON-lines
// ingestion counted, a clean SIGINT stop.
func TestFakeSinkCommand(t *testing.T) {
	verifyNoLeaks(t)
	p := startFakeProc(t, "fakesink", "--listen", "127.0.0.1:0")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	lines := `{"_msg":"first","_time":"2026-01-02T03:04:05Z","level":"info"}` + "\n" +
		`{"_msg":"second","_time":"2026-01-02T03:04:06Z","level":"warn"}` + "\n"
	if code, body := postBody(t, hc, p.base+"/insert/jsonline", "application/stream+json", lines); code/100 != 2 {
		t.Fatalf("POST /insert/jsonline: %d %s", code, body)
	}
	var stats map[string]int64
	getJSON(t, hc, p.base+"/_stats", &stats)
	if stats["records_received"] != 2 || stats["requests"] != 1 {
		t.Errorf("/_stats after one request of two lines: records_received=%d requests=%d (all: %v)",
			stats["records_received"], stats["requests"], stats)
	}
	hc.CloseIdleConnections()
	p.interrupt()
}
