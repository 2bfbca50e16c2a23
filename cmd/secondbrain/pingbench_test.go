package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stdioPeer is an MCP server driven over pipes by one client.
type stdioPeer struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	lat  []time.Duration
}

func startPeer(b *testing.B, name string, argv ...string) *stdioPeer {
	b.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "OPENAI_API_KEY=k")
	in, out := stdioPipes(b, cmd)
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	p := &stdioPeer{name: name, cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}
	b.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p.roundTrip(b, `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`, `"init"`)
	if _, err := io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		b.Fatal(err)
	}
	return p
}

// roundTrip writes one request line and reads lines until the response
// with id (raw JSON) comes; notifications in between are skipped.
func (p *stdioPeer) roundTrip(b *testing.B, line, id string) time.Duration {
	t0 := time.Now()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		b.Fatalf("%s: write: %v", p.name, err)
	}
	want := `"id":` + id
	for {
		l, err := p.out.ReadString('\n')
		if err != nil {
			b.Fatalf("%s: read: %v", p.name, err)
		}
		if strings.Contains(l, want) {
			return time.Since(t0)
		}
	}
}

// BenchmarkPingStdio pings secondbrain serve, a trivial Go line echo and,
// when SECONDBRAIN_NODE_TOOLS holds @modelcontextprotocol/server-everything,
// the Node reference server — one client, round-robin in one run, so the
// machine's noise hits all alike — and reports each one's p50 and the
// ratios (sb/node, sb/echo).
//
//	go test ./cmd/secondbrain -run XXX -bench PingStdio -benchtime 5000x
func BenchmarkPingStdio(b *testing.B) {
	dir := b.TempDir()
	sb, echo := filepath.Join(dir, "secondbrain"), filepath.Join(dir, "pingecho")
	for bin, pkg := range map[string]string{sb: ".", echo: "./testdata/pingecho"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	peers := []*stdioPeer{
		startPeer(b, "secondbrain", sb, "serve", "--provider", "fake", "--db", filepath.Join(dir, "sb.db"), "--roots", dir, "--log-level", "error"),
		startPeer(b, "echo", echo),
	}
	if mods := os.Getenv("SECONDBRAIN_NODE_TOOLS"); mods != "" {
		js := filepath.Join(mods, "@modelcontextprotocol", "server-everything", "dist", "index.js")
		if _, err := os.Stat(js); err == nil {
			peers = append(peers, startPeer(b, "node", filepath.Join(mods, ".bin", "node"), js, "stdio"))
		} else {
			b.Logf("no Node reference server (%v)", err)
		}
	}
	// Warm up every peer before timing.
	for k := range 200 {
		for _, p := range peers {
			p.roundTrip(b, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, -k-1), fmt.Sprint(-k-1))
		}
	}
	b.ResetTimer()
	for k := range b.N {
		for _, p := range peers {
			p.lat = append(p.lat, p.roundTrip(b, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, k), fmt.Sprint(k)))
		}
	}
	b.StopTimer()
	p50 := map[string]float64{}
	for _, p := range peers {
		slices.Sort(p.lat)
		p50[p.name] = float64(p.lat[len(p.lat)/2]) / float64(time.Microsecond)
		b.ReportMetric(p50[p.name], p.name+"-p50-µs")
	}
	b.ReportMetric(p50["secondbrain"]/p50["echo"], "sb/echo")
	if n, ok := p50["node"]; ok {
		b.ReportMetric(p50["secondbrain"]/n, "sb/node")
	}
}
