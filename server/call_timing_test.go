package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

// benchCalls makes b.N no-context chat_with_gpt4_1 calls (fake API, zero
// latency) and reports p50 and calls/s.
func benchCalls(b *testing.B, c *client.Client) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		req := mcp.CallToolRequest{}
		req.Params.Name = "chat_with_gpt4_1"
		req.Params.Arguments = map[string]any{"instructions": "hi", "output_format": "text", "context": []string{}, "session_id": fmt.Sprint("bench-", i)}
		t0 := time.Now()
		res, err := c.CallTool(ctx, req)
		lat = append(lat, time.Since(t0))
		if err != nil || res.IsError {
			b.Fatalf("call %d: %v %v", i, err, res)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
}

func BenchmarkNoContextCall_Stdio(b *testing.B) {
	project := b.TempDir()
	_, base := startFake(b)
	e := startEnv(b, project, filepath.Join(b.TempDir(), "sb.db"), base, "k")
	benchCalls(b, e.c)
}

func BenchmarkNoContextCall_HTTP(b *testing.B) {
	project := b.TempDir()
	_, base := startFake(b)
	st, err := session.Open(context.Background(), filepath.Join(b.TempDir(), "sb.db"), session.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{Endpoints: endpoints(base, "k"), Roots: []string{project}, Sessions: st})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.HTTPHandler(server.HTTPOptions{}))
	defer hs.Close()
	c, err := client.NewStreamableHttpClient(hs.URL + "/mcp")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ireq := mcp.InitializeRequest{}
	ireq.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	if _, err := c.Initialize(context.Background(), ireq); err != nil {
		b.Fatal(err)
	}
	benchCalls(b, c)
}
