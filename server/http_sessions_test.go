package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

func startHTTP(t *testing.T, opt server.HTTPOptions) string {
	t.Helper()
	_, base := startFake(t)
	st, err := session.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Options{Endpoints: endpoints(base, "k"), Roots: []string{t.TempDir()}, Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.HTTPHandler(opt))
	t.Cleanup(hs.Close)
	return hs.URL + "/mcp"
}

func send(t *testing.T, method, url, session, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`

const listBody = `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`

// Session ids were checked for format only: a never-issued id ran tools,
// a DELETEd one kept answering, a missing header got 404 (the spec: 400).
func TestHTTP_SessionLifecycle(t *testing.T) {
	url := startHTTP(t, server.HTTPOptions{})
	code, h, body := send(t, http.MethodPost, url, "", initBody)
	id := h.Get("Mcp-Session-Id")
	if code != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d, session %q: %s", code, id, body)
	}
	steps := []struct {
		name, method, session, body string
		want                        int
	}{
		{"live session", http.MethodPost, id, listBody, http.StatusOK},
		{"missing header", http.MethodPost, "", listBody, http.StatusBadRequest},
		{"never issued", http.MethodPost, "mcp-session-3f1c2b9e-4a61-4d0e-9a57-3f2b1c0d9e8f", listBody, http.StatusNotFound},
		{"DELETE unknown", http.MethodDelete, "mcp-session-3f1c2b9e-4a61-4d0e-9a57-3f2b1c0d9e8f", "", http.StatusNotFound},
		{"DELETE live", http.MethodDelete, id, "", http.StatusOK},
		{"after DELETE", http.MethodPost, id, listBody, http.StatusNotFound},
		{"DELETE again", http.MethodDelete, id, "", http.StatusNotFound},
	}
	for _, s := range steps {
		if code, _, body := send(t, s.method, url, s.session, s.body); code != s.want {
			t.Errorf("%s: %s → %d, want %d: %s", s.name, s.method, code, s.want, body)
		}
	}
}

// A 100 MB POST was read whole (RSS 308 MB); the body cap answers 413.
func TestHTTP_BodyCap(t *testing.T) {
	url := startHTTP(t, server.HTTPOptions{MaxBodyBytes: 1 << 20})
	big := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x":"` + strings.Repeat("a", 2<<20) + `"}}`
	if code, _, body := send(t, http.MethodPost, url, "", big); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "over") {
		t.Errorf("2 MB body with a 1 MB cap: %d %s, want 413", code, body)
	}
	if code, _, body := send(t, http.MethodPost, url, "", initBody); code != http.StatusOK {
		t.Errorf("initialize after the refused body: %d %s", code, body)
	}
}

// Abandoned sessions cost memory forever; the cap bounds them.
func TestHTTP_SessionCap(t *testing.T) {
	url := startHTTP(t, server.HTTPOptions{MaxSessions: 3})
	var ids []string
	for range 5 {
		_, h, _ := send(t, http.MethodPost, url, "", initBody)
		ids = append(ids, h.Get("Mcp-Session-Id"))
	}
	if code, _, _ := send(t, http.MethodPost, url, ids[0], listBody); code != http.StatusNotFound {
		t.Errorf("the longest idle session past the cap: %d, want 404", code)
	}
	if code, _, body := send(t, http.MethodPost, url, ids[4], listBody); code != http.StatusOK {
		t.Errorf("the newest session: %d %s", code, body)
	}
}

var _ = mcp.MethodInitialize

// A server with nothing to subscribe to answers subscriptions/listen with
// -32601 and the request's id, at once, over HTTP as over stdio.
func TestHTTP_ListenIsNotFound(t *testing.T) {
	url := startHTTP(t, server.HTTPOptions{})
	body := `{"jsonrpc":"2.0","id":"l1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	code, _, resp := send(t, http.MethodPost, url, "", body)
	if code != http.StatusOK || !strings.Contains(resp, `"id":"l1"`) || !strings.Contains(resp, `"code":-32601`) {
		t.Errorf("subscriptions/listen: %d %s; want a -32601 error for id l1", code, resp)
	}
}
