package reports

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/internal/testlock"
)

// report.html is checked in a real browser: Debian's chromium, headless,
// driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3
// carries commands in, fd 4 replies and events out, NUL-separated JSON), so
// no port and no websocket are needed. The test fails on any console error,
// uncaught exception or request that is not file://, checks that every plot
// has a size and content, and saves screenshots.

var screenshotDir = flag.String("screenshot-dir", "", "keep the report.html screenshots here (default: a temporary directory)")

// checkedInScreenshot is the README's screenshot, rewritten with -update.
const checkedInScreenshot = "../testdata/report-screenshot.png"

func chromiumPath() string {
	if p := os.Getenv("SECONDBRAIN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// cdpMessage is any message on the DevTools pipe.
type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// browser is a headless chromium and its DevTools pipe. All reads and writes
// happen on the test goroutine; the pipe's read deadline bounds every wait.
type browser struct {
	cmd      *exec.Cmd
	in       *os.File // our end of chromium's fd 3
	out      *os.File // our end of chromium's fd 4
	rd       *bufio.Reader
	nextID   int64
	events   []cdpMessage
	deadline time.Time
	stderr   bytes.Buffer
}

func startBrowser(t *testing.T, path string, deadline time.Time) *browser {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{in: cmdW, out: respR, rd: bufio.NewReader(respR), deadline: deadline}
	b.cmd = exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir="+t.TempDir(), "--window-size=1400,2000",
		"--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, respW}
	b.cmd.Stderr = &b.stderr
	// Its own process group, so the renderer and GPU helpers go with it.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", path, err)
	}
	cmdR.Close()
	respW.Close()
	if err := respR.SetReadDeadline(deadline); err != nil {
		t.Fatalf("cannot set a read deadline on the DevTools pipe: %v", err)
	}
	t.Cleanup(b.stop)
	return b
}

// stop closes the browser politely, then kills its process group, and waits.
func (b *browser) stop() {
	b.in.Close() // chromium exits when its command pipe closes
	done := make(chan struct{})
	go func() {
		b.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	// Helpers left in the group (there should be none) go too.
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	b.out.Close()
}

func (b *browser) read() (cdpMessage, error) {
	line, err := b.rd.ReadBytes(0)
	if err != nil {
		return cdpMessage{}, fmt.Errorf("cannot read from the DevTools pipe: %w (chromium stderr: %s)", err, lastLines(b.stderr.String(), 5))
	}
	var m cdpMessage
	if err := json.Unmarshal(line[:len(line)-1], &m); err != nil {
		return cdpMessage{}, fmt.Errorf("cannot decode DevTools message %q: %w", line, err)
	}
	return m, nil
}

// call sends a command and reads until its reply, keeping the events seen.
func (b *browser) call(session, method string, params any, result any) error {
	b.nextID++
	id := b.nextID
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := b.in.SetWriteDeadline(b.deadline); err != nil {
		return err
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return fmt.Errorf("cannot send %s: %w", method, err)
	}
	for {
		m, err := b.read()
		if err != nil {
			return fmt.Errorf("waiting for the reply to %s: %w", method, err)
		}
		if m.ID != id {
			if m.Method != "" {
				b.events = append(b.events, m)
			}
			continue
		}
		if m.Error != nil {
			return fmt.Errorf("%s failed: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	}
}

// waitEvent reads until an event named method arrives (or was already seen).
func (b *browser) waitEvent(method string) error {
	for _, e := range b.events {
		if e.Method == method {
			return nil
		}
	}
	for {
		m, err := b.read()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", method, err)
		}
		if m.Method != "" {
			b.events = append(b.events, m)
			if m.Method == method {
				return nil
			}
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// pageProblems lists console errors, exceptions and non-file requests seen.
func pageProblems(events []cdpMessage) (problems, requests []string) {
	for _, e := range events {
		switch e.Method {
		case "Runtime.exceptionThrown":
			problems = append(problems, "exception: "+string(e.Params))
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
			}
			json.Unmarshal(e.Params, &p)
			if p.Type == "error" || p.Type == "assert" {
				problems = append(problems, "console."+p.Type+": "+string(e.Params))
			}
		case "Log.entryAdded":
			var p struct {
				Entry struct {
					Level, Source, Text, URL string
				} `json:"entry"`
			}
			json.Unmarshal(e.Params, &p)
			if p.Entry.Level == "error" {
				problems = append(problems, fmt.Sprintf("log error (%s): %s %s", p.Entry.Source, p.Entry.Text, p.Entry.URL))
			}
		case "Network.requestWillBeSent":
			var p struct {
				Request struct {
					URL string `json:"url"`
				} `json:"request"`
			}
			json.Unmarshal(e.Params, &p)
			requests = append(requests, p.Request.URL)
			if !strings.HasPrefix(p.Request.URL, "file://") {
				problems = append(problems, "network request: "+p.Request.URL)
			}
		}
	}
	return problems, requests
}

func TestHTMLInChromium(t *testing.T) {
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not found and CI is set: .ci/run must install Debian's chromium package")
		}
		t.Skip("chromium not installed (apt-get install -y chromium); set CI=1 to make this a failure")
	}
	testlock.Heavy(t) // a browser starting up takes both CPUs for seconds
	dir := t.TempDir()
	if err := WriteAll(dir, syntheticResult(t)); err != nil {
		t.Fatal(err)
	}
	// Generous: chromium's cold start on a busy 2-core machine takes seconds.
	b := startBrowser(t, path, time.Now().Add(120*time.Second))

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	s := attached.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Network.enable", "Page.enable"} {
		if err := b.call(s, m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.call(s, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1400, "height": 2000, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	url := "file://" + filepath.ToSlash(filepath.Join(dir, HTMLFile))
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(s, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		t.Fatal(err)
	}
	if nav.ErrorText != "" {
		t.Fatalf("cannot load %s: %s", url, nav.ErrorText)
	}
	if err := b.waitEvent("Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}

	// Every plot is laid out with a size and carries drawn data.
	var eval struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
	}
	expr := `JSON.stringify(Array.from(document.querySelectorAll('svg.plot')).map(s => {
		const r = s.getBoundingClientRect();
		return {label: s.getAttribute('aria-label'), w: r.width, h: r.height, marks: s.querySelectorAll('polyline, circle').length};
	}))`
	if err := b.call(s, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &eval); err != nil {
		t.Fatal(err)
	}
	var plots []struct {
		Label string
		W, H  float64
		Marks int
	}
	if err := json.Unmarshal([]byte(eval.Result.Value), &plots); err != nil {
		t.Fatalf("cannot read plot sizes %q: %v", eval.Result.Value, err)
	}
	// 8 of the three replays, 5 of many-hosts' two loads (as TestHTMLSelfContained).
	if len(plots) != 13 {
		t.Fatalf("%d plots rendered, want 13: %+v", len(plots), plots)
	}
	for _, p := range plots {
		if p.W < 300 || p.H < 150 || p.Marks == 0 {
			t.Errorf("plot %q is %gx%g px with %d marks: not drawn", p.Label, p.W, p.H, p.Marks)
		}
	}

	shot := func(full bool) []byte {
		t.Helper()
		params := map[string]any{"format": "png"}
		if full {
			var metrics struct {
				CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
			}
			if err := b.call(s, "Page.getLayoutMetrics", nil, &metrics); err != nil {
				t.Fatal(err)
			}
			params["captureBeyondViewport"] = true
			params["clip"] = map[string]any{"x": 0, "y": 0, "width": 1400, "height": metrics.CSSContentSize.Height, "scale": 1}
		}
		var res struct {
			Data string `json:"data"`
		}
		if err := b.call(s, "Page.captureScreenshot", params, &res); err != nil {
			t.Fatal(err)
		}
		data, err := base64.StdEncoding.DecodeString(res.Data)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	viewport, full := shot(false), shot(true)

	// Drain what the page reported: one more round trip flushes the events.
	if err := b.call(s, "Runtime.evaluate", map[string]any{"expression": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	problems, requests := pageProblems(b.events)
	for _, p := range problems {
		t.Errorf("report.html in chromium: %s", p)
	}
	if len(requests) != 1 || requests[0] != url {
		t.Errorf("requests made: %q, want only the report itself", requests)
	}

	img, err := png.Decode(bytes.NewReader(viewport))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 2000 {
		t.Fatalf("screenshot is %dx%d, want 1400x2000", b.Dx(), b.Dy())
	}
	colours := map[uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 3 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
		}
	}
	if len(colours) < 50 {
		t.Fatalf("screenshot has %d colours: the page looks blank", len(colours))
	}

	out := *screenshotDir
	if out == "" {
		out = t.TempDir()
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"report-viewport.png": viewport, "report-full.png": full} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s (%d plots, %d bytes viewport, %d bytes full page)", out, len(plots), len(viewport), len(full))
	if *update {
		if err := os.MkdirAll(filepath.Dir(checkedInScreenshot), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(checkedInScreenshot, viewport, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The checker must itself catch a page that logs an error and fetches
	// something (loopback, a port nothing listens on).
	bad := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><title>bad</title><script>console.error("boom")</script><img src="http://127.0.0.1:9/x.png">`), 0o644); err != nil {
		t.Fatal(err)
	}
	b.events = nil
	if err := b.call(s, "Page.navigate", map[string]any{"url": "file://" + filepath.ToSlash(bad)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.waitEvent("Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	if err := b.call(s, "Runtime.evaluate", map[string]any{"expression": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	badProblems, _ := pageProblems(b.events)
	joined := strings.Join(badProblems, "\n")
	if !strings.Contains(joined, "console.error") || !strings.Contains(joined, "network request: http://127.0.0.1:9/x.png") {
		t.Fatalf("the checker missed a misbehaving page; it saw:\n%s", joined)
	}

	if err := b.call("", "Browser.close", nil, nil); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// Chromium may close the pipe before answering; that is fine.
		t.Logf("Browser.close: %v", err)
	}
}
