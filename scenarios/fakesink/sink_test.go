package fakesink_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakesink"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newSink(t *testing.T, opts ...fakesink.Option) (*fakesink.Sink, string) {
	t.Helper()
	s := fakesink.New(opts...)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = s.Close() })
	return s, ts.URL
}

func post(ctx context.Context, url, body string, hdr ...string) (int, error) {
	return postWith(ctx, http.DefaultClient, url, body, hdr...)
}

func postWith(ctx context.Context, c *http.Client, url, body string, hdr ...string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/stream+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestIngest(t *testing.T) {
	s, base := newSink(t)
	ctx := context.Background()
	body := `{"_msg":"hello","_time":"2026-01-01T00:00:00Z","level":"info"}
{"_msg":"second","n":2}

not json
{"message":"custom field","ts":"t1"}
`
	code, err := post(ctx, base+"/insert/jsonline", body)
	if err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	code, err = post(ctx, base+"/insert/jsonline?_msg_field=message,_msg&_time_field=ts", `{"message":"m","ts":"t2"}`)
	if err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprintln(zw, `{"_msg":"zipped"}`)
	_ = zw.Close()
	code, err = post(ctx, base+"/insert/jsonline", gz.String(), "Content-Encoding", "gzip")
	if err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	recs := s.Records()
	var msgs []string
	for _, r := range recs {
		msgs = append(msgs, r.Msg+"@"+r.Time)
	}
	if got := strings.Join(msgs, ","); got != "hello@2026-01-01T00:00:00Z,second@,@,m@t2,zipped@" {
		t.Fatalf("records %s", got)
	}
	if recs[0].Fields["level"] != "info" {
		t.Fatalf("fields %v", recs[0].Fields)
	}
	st := s.Stats()
	if s.Count() != 5 || st["invalid_lines"] != 1 || st["requests"] != 3 || st["bytes"] == 0 {
		t.Fatalf("stats %v", st)
	}
	resp, err := http.Get(base + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestDelayAndStall: the delay and the stall window are scenario time; a
// client that gives up during a delay stores nothing.
func TestDelayAndStall(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	s, base := newSink(t, fakesink.WithClock(clk), fakesink.WithFaults(fakesink.Faults{Delay: fakesink.Duration(5 * time.Second)}))
	done := make(chan int, 1)
	go func() {
		code, _ := post(context.Background(), base+"/insert/jsonline", `{"_msg":"slow"}`)
		done <- code
	}()
	if err := clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if s.Count() != 0 {
		t.Fatal("stored before the delay passed")
	}
	clk.Advance(5 * time.Second)
	if code := <-done; code != 200 || s.Count() != 1 {
		t.Fatalf("code %d count %d", code, s.Count())
	}
	// Abandoned during the delay: not stored.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := post(ctx, base+"/insert/jsonline", `{"_msg":"gone"}`); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	waitFor(t, func() bool { return s.Stats()["abandoned"] == 1 })

	// Stall window: requests wait until it ends, then pass (no delay now).
	s.SetFaults(fakesink.Faults{StallFor: fakesink.Duration(10 * time.Second)})
	go func() {
		code, _ := post(context.Background(), base+"/insert/jsonline", `{"_msg":"stalled"}`)
		done <- code
	}()
	if err := clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if code := <-done; code != 200 || s.Count() != 2 {
		t.Fatalf("code %d count %d", code, s.Count())
	}
	if code, _ := post(context.Background(), base+"/insert/jsonline", `{"_msg":"after"}`); code != 200 || s.Count() != 3 {
		t.Fatal("stall window did not end")
	}
}

func TestErrorsAndHang(t *testing.T) {
	s, base := newSink(t, fakesink.WithFaults(fakesink.Faults{ErrorStatus: 503, ErrorCount: 2}))
	ctx := context.Background()
	for i, want := range []int{503, 503, 200} {
		if code, err := post(ctx, base+"/insert/jsonline", "{\"_msg\":\"a\"}\n{\"_msg\":\"b\"}"); err != nil || code != want {
			t.Fatalf("request %d: %d %v, want %d", i, code, err, want)
		}
	}
	if st := s.Stats(); st["rejected"] != 2 || st["rejected_records"] != 4 || st["records_received"] != 2 {
		t.Fatalf("stats %v", st)
	}
	// Hang via the control API; the client's timeout ends it.
	if code, _ := post(ctx, base+"/_fault", `{"reset":true,"hang":true,"error_status":0}`); code != 200 {
		t.Fatal("fault not set")
	}
	if f := s.Faults(); !f.Hang || f.ErrorStatus != 0 {
		t.Fatalf("faults %+v", f)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := post(tctx, base+"/insert/jsonline", `{"_msg":"x"}`); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	waitFor(t, func() bool { return s.Stats()["abandoned"] == 1 })
	// One that never gives up is released by Close.
	done := make(chan error, 1)
	go func() {
		_, err := post(ctx, base+"/insert/jsonline", `{"_msg":"y"}`)
		done <- err
	}()
	waitFor(t, func() bool { return s.Stats()["hung"] == 2 })
	_ = s.Close()
	<-done
	if s.Count() != 2 {
		t.Fatalf("hung requests stored records: %d", s.Count())
	}
}

// TestStopRestart: a stopped sink refuses connections; it comes back on
// the same address, by hand or after stop_for.
func TestStopRestart(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	s := fakesink.New(fakesink.WithClock(clk))
	defer s.Close()
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A new connection per request: one kept alive from before a stop
	// would fail with a reset or EOF, not the refusal a stopped sink means.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(ctx context.Context, url, body string) (int, error) { return postWith(ctx, c, url, body) }
	if code, err := post(ctx, base+"/insert/jsonline", `{"_msg":"1"}`); err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := post(ctx, base+"/insert/jsonline", `{"_msg":"2"}`); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want connection refused, got %v", err)
	}
	if s.Stats()["stopped"] != 1 {
		t.Fatal("stopped gauge")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if code, err := post(ctx, base+"/insert/jsonline", `{"_msg":"3"}`); err != nil || code != 200 {
		t.Fatalf("after restart: %d %v", code, err)
	}
	// stop_for through the control API, restarted by the sink's clock.
	if code, err := post(ctx, base+"/_fault", `{"stop_for":"30s"}`); err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
	waitFor(t, func() bool { return s.Stats()["stopped"] == 1 })
	if _, err := post(ctx, base+"/insert/jsonline", `{"_msg":"4"}`); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want connection refused, got %v", err)
	}
	if err := clk.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	waitFor(t, func() bool { return s.Stats()["stopped"] == 0 })
	if code, err := post(ctx, base+"/insert/jsonline", `{"_msg":"5"}`); err != nil || code != 200 {
		t.Fatalf("after stop_for: %d %v", code, err)
	}
	if s.Count() != 3 {
		t.Fatalf("count %d", s.Count())
	}
}

func TestWaitForCount(t *testing.T) {
	s, base := newSink(t)
	go func() { _, _ = post(context.Background(), base+"/insert/jsonline", "{\"_msg\":1}\n{\"_msg\":2}") }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitForCount(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if r := s.Records(); r[0].Msg != "1" {
		t.Fatalf("non-string _msg rendered as %q", r[0].Msg)
	}
}

func TestBadControl(t *testing.T) {
	_, base := newSink(t)
	for _, body := range []string{`{`, `{"error_status":404}`, `{"delay":"-1s"}`, `{"delay":"soon"}`, `{"dealy":"1s"}`, `{"reset":true,"stal_for":"1s"}`} {
		if code, err := post(context.Background(), base+"/_fault", body); err != nil || code != 400 {
			t.Errorf("%s: %d %v", body, code, err)
		}
	}
	resp, err := http.Get(base + "/insert/jsonline")
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET ingest: %v %v", resp, err)
	}
	resp.Body.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
