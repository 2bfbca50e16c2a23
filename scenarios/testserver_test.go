package scenarios

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The test binary doubles as a tiny MCP server standing in for `secondbrain
// serve` (same flags), so the runner's process, pipe and transport handling
// is tested without the real server:
//
//	SB_TEST_SERVER=1            act as the server
//	SB_TEST_STDERR_BYTES=N      write N bytes to stderr, synchronously, per chat call
//	SB_TEST_CALL_MS=N           each chat call takes N ms (cancellable)
const envTestServer = "SB_TEST_SERVER"

// serveTestServer runs the stand-in server when the environment asks, and
// reports whether it did (TestMain then returns).
func serveTestServer() bool {
	if os.Getenv(envTestServer) != "1" {
		return false
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	httpAddr := fs.String("http", "", "")
	debugFile := fs.String("debug-addr-file", "", "")
	for _, name := range []string{"base-url", "db", "roots", "debug-addr", "time-scale", "time-origin", "log-level", "log-shipping", "victorialogs-url"} {
		fs.String(name, "", "")
	}
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if *debugFile != "" {
		_ = os.WriteFile(*debugFile, []byte("127.0.0.1:9\n"), 0o600)
	}
	stderrBytes, _ := strconv.Atoi(os.Getenv("SB_TEST_STDERR_BYTES"))
	callMS, _ := strconv.Atoi(os.Getenv("SB_TEST_CALL_MS"))

	s := server.NewMCPServer("test-server", "1")
	s.AddTool(mcp.NewTool(NoopTool), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("o3"), nil
	})
	s.AddTool(mcp.NewTool("chat_with_o3"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if stderrBytes > 0 {
			// Synchronous stderr logging, like the original server: blocks
			// when the host stops reading.
			_, _ = os.Stderr.Write([]byte(strings.Repeat("x", stderrBytes-1) + "\n"))
		}
		var token mcp.ProgressToken
		if req.Params.Meta != nil {
			token = req.Params.Meta.ProgressToken
		}
		end := time.Now().Add(time.Duration(callMS) * time.Millisecond)
		for time.Now().Before(end) {
			if token != nil {
				_ = s.SendNotificationToClient(ctx, "notifications/progress", map[string]any{"progressToken": token, "progress": 1})
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		args := req.GetArguments()
		ctxPaths, _ := args["context"].([]any)
		return mcp.NewToolResultText(fmt.Sprintf("answer session=%v context=%d", args["session_id"], len(ctxPaths))), nil
	})
	var err error
	if *httpAddr != "" {
		err = server.NewStreamableHTTPServer(s).Start(*httpAddr)
	} else if n, _ := strconv.Atoi(os.Getenv("SB_TEST_WEDGE_AFTER")); n > 0 {
		// Stop reading stdin after n lines, as a server whose read loop
		// is stuck (the runner must unwedge, not hang).
		err = server.NewStdioServer(s).Listen(context.Background(), &wedgeReader{r: os.Stdin, lines: n}, os.Stdout)
	} else {
		err = server.ServeStdio(s)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test server:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// wedgeReader passes lines through until it has seen lines newlines, then
// blocks forever: the pipe behind it fills and the client's writes block.
type wedgeReader struct {
	r     *os.File
	lines int
}

func (w *wedgeReader) Read(p []byte) (int, error) {
	if w.lines <= 0 {
		select {}
	}
	n, err := w.r.Read(p[:1])
	if n == 1 && p[0] == '\n' {
		w.lines--
	}
	return n, err
}
