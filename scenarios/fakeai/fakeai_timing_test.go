package fakeai_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
)

// BenchmarkFake_Loopback measures small requests over real loopback TCP
// with zero injected latency: the fake must not be a harness bottleneck
// (the goal: ≥ 5,000 requests/s on a 2-core machine).
func BenchmarkFake_Loopback(b *testing.B) {
	cases := []struct {
		name, method, path, body string
	}{
		{"models", http.MethodGet, "/v1/models/o3", ""},
		{"chat", http.MethodPost, "/v1/chat/completions", `{"model":"grok-4","messages":[{"role":"user","content":"hi"}]}`},
		{"stats", http.MethodGet, "/_stats", ""},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			f := fakeai.New()
			defer f.Close()
			base, stop, err := f.Start(context.Background(), "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			b.ReportAllocs()
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var body io.Reader
					if tc.body != "" {
						body = strings.NewReader(tc.body)
					}
					req, _ := http.NewRequest(tc.method, base+tc.path, body)
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
