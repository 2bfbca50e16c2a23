package fakeai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// TestThrottle_EngagesAndRecovers: after 3 uploads in the window the 4th
// waits 7 × 10 s; an upload 2 minutes later is still throttled (window 4 m
// since the last upload); one after 4 quiet minutes is not.
func TestThrottle_EngagesAndRecovers(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	f, c, _ := newFake(t, 0, fakeai.WithClock(clk), fakeai.WithFaults(fakeai.Faults{
		ThrottleAfterUploads: 3, ThrottleBase: fakeai.Duration(10 * time.Second), Recovery: fakeai.Duration(4 * time.Minute),
	}))
	ctx := testCtx(t)
	for i := range 3 {
		upload(t, c, "quick"+string(rune('a'+i)), "x")
	}
	if f.Stats()["throttle_engaged"] != 0 {
		t.Fatal("throttled before the threshold")
	}
	// throttledUpload runs one upload that must wait 70 s of scenario time.
	throttledUpload := func(name string) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader("y"), name, "text/plain"), Purpose: "assistants"})
			done <- err
		}()
		if err := clk.WaitForTimers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if got := f.Stats()["throttle_engaged"]; got != 1 {
			t.Fatalf("throttle_engaged = %d", got)
		}
		clk.Advance(69 * time.Second)
		select {
		case err := <-done:
			t.Fatalf("throttled upload returned before 70 s: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		clk.Advance(time.Second)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	throttledUpload("slow1")
	clk.Advance(2 * time.Minute) // gap-3min-like: not enough quiet time
	throttledUpload("slow2")
	clk.Advance(4 * time.Minute) // quiet for the whole window since slow2 arrived (+70 s)
	if got := f.Stats()["throttle_engaged"]; got != 0 {
		t.Fatalf("still throttled after the recovery window")
	}
	upload(t, c, "fast-again", "z") // would block forever on the fake clock if throttled
	st := f.Stats()
	if st["uploads_throttled"] != 2 || st["throttle_engagements"] != 1 || st["files_uploaded"] != 6 {
		t.Fatalf("stats %v", st)
	}
}

// TestRateLimit_SDKHonoursRetryAfter: two 429s with Retry-After 150 ms
// (Retry-After-Ms 150), then success; the SDK waited at least 2×150 ms.
func TestRateLimit_SDKHonoursRetryAfter(t *testing.T) {
	f, c, _ := newFake(t, 2, fakeai.WithFaults(fakeai.Faults{RateLimit: fakeai.Rule{
		Count: 2, Paths: []string{"GET /v1/models"}, RetryAfter: fakeai.Duration(150 * time.Millisecond)}}))
	var attempts []string
	var mu sync.Mutex
	mw := option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			attempts = append(attempts, r.Header.Get("X-Stainless-Retry-Count")+":"+resp.Header.Get("Retry-After-Ms"))
		}
		return resp, err
	})
	start := time.Now()
	if _, err := c.Models.List(testCtx(t), mw); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if strings.Join(attempts, ",") != "0:150,1:150,2:" {
		t.Fatalf("attempts %v", attempts)
	}
	if elapsed < 300*time.Millisecond {
		t.Fatalf("SDK retried after %v, before the Retry-After of 2×150ms", elapsed)
	}
	st := f.Stats()
	if st["rate_limited"] != 2 || st["requests_total"] != 3 {
		t.Fatalf("stats %v", st)
	}
	// Uploads are unaffected by a models-only rule; with no retries left the error is a 429.
	f.SetFaults(fakeai.Faults{RateLimit: fakeai.Rule{Every: 2}})
	_, err := c.Models.List(testCtx(t), option.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Models.List(testCtx(t), option.WithMaxRetries(0))
	if ae := apiError(t, err, 429); ae.Code != "rate_limit_exceeded" {
		t.Fatalf("429 = %+v", ae)
	}
}

func TestStoreLimit_101stRefused(t *testing.T) {
	f, c, _ := newFake(t, 0)
	ctx := testCtx(t)
	var first string
	for i := range 100 {
		vs, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{})
		if err != nil {
			t.Fatalf("store %d: %v", i+1, err)
		}
		if i == 0 {
			first = vs.ID
		}
	}
	_, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{})
	if ae := apiError(t, err, 400); ae.Type != "invalid_request_error" || !strings.Contains(ae.Message, "100") {
		t.Fatalf("101st: %+v", ae)
	}
	if _, err := c.VectorStores.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{}); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	st := f.Stats()
	if st["vector_stores_alive"] != 100 || st["vector_stores_refused"] != 1 || st["vector_stores_created"] != 101 {
		t.Fatalf("stats %v", st)
	}
}

// TestStall: a stalled request ends when its client gives up, and Close
// releases one whose client never does.
func TestStall(t *testing.T) {
	f, c, _ := newFake(t, 0, fakeai.WithFaults(fakeai.Faults{Stall: fakeai.Rule{Count: 2, Paths: []string{"/v1/chat/"}}}))
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	chat := openai.ChatCompletionNewParams{Model: "grok-4", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}
	if _, err := c.Chat.Completions.New(ctx, chat); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	// The stalled handler has returned once the client gave up.
	waitFor(t, func() bool { return f.Stats()["stalls_released"] == 1 })

	done := make(chan error, 1)
	go func() {
		_, err := c.Chat.Completions.New(context.Background(), chat, option.WithRequestTimeout(0))
		done <- err
	}()
	waitFor(t, func() bool { return f.Stats()["stalled"] == 2 })
	_ = f.Close()
	if err := <-done; err == nil {
		t.Fatal("a stalled request released by Close must fail")
	}
}

// TestDeleteStall: the stalled delete deletes nothing; the next one works.
func TestDeleteStall(t *testing.T) {
	f, c, _ := newFake(t, 0, fakeai.WithFaults(fakeai.Faults{DeleteStall: fakeai.Rule{Count: 1}}))
	vs, err := c.VectorStores.New(testCtx(t), openai.VectorStoreNewParams{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if _, err := c.VectorStores.Delete(ctx, vs.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline, got %v", err)
	}
	if f.Stats()["vector_stores_alive"] != 1 {
		t.Fatal("a stalled delete deleted the store")
	}
	if _, err := c.VectorStores.Delete(testCtx(t), vs.ID); err != nil {
		t.Fatal(err)
	}
}

func TestServerErrorBurst(t *testing.T) {
	f, c, _ := newFake(t, 0, fakeai.WithFaults(fakeai.Faults{ServerErrors: fakeai.Rule{Count: 2, Status: 503}}))
	for i := range 2 {
		_, err := c.Models.List(testCtx(t))
		if ae := apiError(t, err, 503); ae.Type != "server_error" {
			t.Fatalf("call %d: %+v", i, ae)
		}
	}
	if _, err := c.Models.List(testCtx(t)); err != nil {
		t.Fatalf("after the burst: %v", err)
	}
	if f.Stats()["server_errors"] != 2 {
		t.Fatalf("stats %v", f.Stats())
	}
}

// TestLatency_OnClock: upload latency waits on the injected clock.
func TestLatency_OnClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	_, c, _ := newFake(t, 0, fakeai.WithClock(clk), fakeai.WithFaults(fakeai.Faults{ChatLatency: fakeai.Duration(time.Hour)}))
	done := make(chan error, 1)
	go func() {
		_, err := c.Chat.Completions.New(testCtx(t), openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
		done <- err
	}()
	if err := clk.WaitForTimers(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
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

func TestFaultControl(t *testing.T) {
	_, _, base := newFake(t, 0, fakeai.WithFaults(fakeai.Faults{StoreLimit: 5}))
	post := func(body string) (int, fakeai.Faults) {
		t.Helper()
		resp, err := http.Post(base+"/_fault", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var f fakeai.Faults
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
		}
		return resp.StatusCode, f
	}
	code, f := post(`{"upload_latency":"2s","rate_limit":{"count":3,"retry_after":"1s"},"call_tools":false}`)
	if code != 200 || f.UploadLatency.D() != 2*time.Second || f.RateLimit.Count != 3 || f.StoreLimit != 5 || f.CallsTools() {
		t.Fatalf("%d %+v", code, f)
	}
	code, f = post(`{"recovery":"3m"}`) // partial: the rest stays
	if code != 200 || f.Recovery.D() != 3*time.Minute || f.UploadLatency.D() != 2*time.Second {
		t.Fatalf("%d %+v", code, f)
	}
	code, f = post(`{"reset":true,"chat_latency":"1s"}`)
	if code != 200 || f.UploadLatency != 0 || f.StoreLimit != 5 || f.ChatLatency.D() != time.Second || !f.CallsTools() {
		t.Fatalf("%d %+v", code, f)
	}
	for _, bad := range []string{`{`, `{"upload_latency":"soon"}`, `{"server_errors":{"count":1,"status":404}}`, `{"recovery":"-1s"}`,
		`{"upload_latencey":"2s"}`, `{"rate_limit":{"count":3,"retry_afterr":"1s"}}`, `[]`} {
		if code, _ := post(bad); code != 400 {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
	resp, err := http.Get(base + "/_fault")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"chat_latency":"1s"`) {
		t.Fatalf("GET /_fault = %s", b)
	}
}

// TestBadInput: every malformed request gets OpenAI's error shape.
func TestBadInput(t *testing.T) {
	_, _, base := newFake(t, 0)
	mp := func(fields map[string]string, withFile bool) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			_ = w.WriteField(k, v)
		}
		if withFile {
			fw, _ := w.CreateFormFile("file", "a.txt")
			_, _ = fw.Write([]byte("hi"))
		}
		_ = w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	noFileCT, noFile := mp(map[string]string{"purpose": "assistants"}, false)
	noPurposeCT, noPurpose := mp(nil, true)
	cases := []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
		param                  string
	}{
		{"malformed json", "POST", "/v1/responses", "application/json", []byte(`{"model":`), 400, ""},
		{"empty body", "POST", "/v1/chat/completions", "application/json", nil, 400, ""},
		{"no model", "POST", "/v1/responses", "application/json", []byte(`{"input":"x"}`), 400, "model"},
		{"no input", "POST", "/v1/responses", "application/json", []byte(`{"model":"o3"}`), 400, "input"},
		{"bad input", "POST", "/v1/responses", "application/json", []byte(`{"model":"o3","input":42}`), 400, "input"},
		{"bad tools", "POST", "/v1/responses", "application/json", []byte(`{"model":"o3","input":"x","tools":{}}`), 400, "tools"},
		{"no messages", "POST", "/v1/chat/completions", "application/json", []byte(`{"model":"m","messages":[]}`), 400, "messages"},
		{"bad role", "POST", "/v1/chat/completions", "application/json", []byte(`{"model":"m","messages":[{"role":"x"}]}`), 400, "messages.[0].role"},
		{"wrong types", "POST", "/v1/chat/completions", "application/json", []byte(`{"model":1,"messages":"no"}`), 400, ""},
		{"multipart no file", "POST", "/v1/files", noFileCT, noFile, 400, "file"},
		{"multipart no purpose", "POST", "/v1/files", noPurposeCT, noPurpose, 400, "purpose"},
		{"upload not multipart", "POST", "/v1/files", "application/json", []byte(`{}`), 400, ""},
		{"truncated multipart", "POST", "/v1/files", noFileCT, noFile[:len(noFile)/2], 400, ""},
		{"unknown response", "GET", "/v1/responses/resp_nope", "", nil, 404, ""},
		{"cancel unknown", "POST", "/v1/responses/resp_nope/cancel", "", nil, 404, ""},
		{"unknown file", "GET", "/v1/files/file-nope", "", nil, 404, ""},
		{"unknown store", "GET", "/v1/vector_stores/vs_nope", "", nil, 404, ""},
		{"unknown store batch", "POST", "/v1/vector_stores/vs_nope/file_batches", "application/json", []byte(`{"file_ids":["f"]}`), 404, ""},
		{"batch without ids", "POST", "/v1/vector_stores/vs_nope/file_batches", "application/json", []byte(`{}`), 400, "file_ids"},
		{"search no query", "POST", "/v1/vector_stores/vs_nope/search", "application/json", []byte(`{}`), 400, "query"},
		{"store with unknown file", "POST", "/v1/vector_stores", "application/json", []byte(`{"file_ids":["file-x"]}`), 400, "file_ids"},
		{"bad limit", "GET", "/v1/vector_stores?limit=0", "", nil, 400, "limit"},
		{"unknown route", "GET", "/v1/nothing", "", nil, 404, ""},
		{"wrong method", "PUT", "/v1/files", "", nil, 404, ""},
		{"outside v1", "GET", "/elsewhere", "", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil || body.Error == nil || body.Error.Message == "" || body.Error.Type == "" {
				t.Fatalf("body %s is not an OpenAI error (%v)", raw, err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if got := ""; tc.param != "" {
				if body.Error.Param != nil {
					got = *body.Error.Param
				}
				if got != tc.param {
					t.Fatalf("param %q, want %q: %s", got, tc.param, raw)
				}
			}
		})
	}
}
