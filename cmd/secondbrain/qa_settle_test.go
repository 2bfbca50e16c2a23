package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/server"
)

// POST /debug/settle on the debug listener closes the provider keep-alives
// after an overflow call and reports the descriptors closed and the SQLite
// pool (one connection).
func TestQA_DebugSettle(t *testing.T) {
	e := newE2E(t, false) // --provider fake: the fake's sockets are in-process too
	line := strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing elit ", 20) + "\n"
	for i := 0; i < 8; i++ {
		body := strings.Repeat(fmt.Sprintf("%d %s", i, line), 100)
		if err := os.WriteFile(filepath.Join(e.project, fmt.Sprintf("big%02d.txt", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addrFile := filepath.Join(t.TempDir(), "debug.addr")
	e.extra = []string{"--debug-addr", "127.0.0.1:0", "--debug-addr-file", addrFile}
	c, _ := e.stdioClient()
	defer c.Close()
	if m := meta(t, call(t, c, "chat_with_o3", chat("settle", e.project))); !m.OverflowAttached {
		t.Fatalf("no overflow attached: %+v", m)
	}
	b, err := os.ReadFile(addrFile)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + strings.TrimSpace(string(b)) + "/debug/settle"
	settle := func() server.SettleReport {
		t.Helper()
		resp, err := http.Post(url, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rep server.SettleReport
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /debug/settle: %d %v", resp.StatusCode, err)
		}
		return rep
	}
	// The background memory writer may still hold the one connection when the
	// call returns (in use, so not idle): settle again until it has come back.
	var rep server.SettleReport
	closed := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rep = settle()
		closed += rep.Closed
		if closed > 0 || rep.OpenFDsBefore < 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("settle after an 8-file overflow call: %+v (closed in all: %d)", rep, closed)
	if rep.HTTPClients != 1 || len(rep.SQLite) != 1 || rep.SQLite[0].MaxOpen != 1 || rep.SQLite[0].Open > 1 {
		t.Errorf("settle report %+v", rep)
	}
	if rep.OpenFDsBefore >= 0 && closed == 0 {
		t.Errorf("no idle provider connection was closed: %+v", rep)
	}
	if r, err := http.Get(url); err != nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /debug/settle: %v %v", r.StatusCode, err)
	} else {
		r.Body.Close()
	}
}
