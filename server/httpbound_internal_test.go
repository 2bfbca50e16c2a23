package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestInFlightBound: past its kind's bound a request is refused at once
// with 503, Retry-After and a JSON-RPC busy error carrying its id; the
// other kind still passes; a slot freed is taken again.
func TestInFlightBound(t *testing.T) {
	var refused atomic.Uint64
	bound := newInFlightBound(1, 1, &refused)
	ids := newSessionIDs(10, time.Minute, nil)
	hold := make(chan struct{})
	entered := make(chan string, 4)
	h := sessionChecks(ids, 1<<20, bound, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.Header.Get("X-Name")
		if r.Header.Get("X-Hold") != "" {
			<-hold
		}
	}))
	session := ids.Generate()
	post := func(name, body string, holdIt bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("X-Name", name)
		if holdIt {
			req.Header.Set("X-Hold", "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	call := func(id int) string {
		return `{"jsonrpc":"2.0","id":` + string(rune('0'+id)) + `,"method":"tools/call","params":{"name":"list_models"}}`
	}
	done := make(chan struct{}, 2)
	for name, body := range map[string]string{"held call": call(1), "held ping": `{"jsonrpc":"2.0","id":"h","method":"ping"}`} {
		go func() {
			defer func() { done <- struct{}{} }()
			post(name, body, true)
		}()
		if got := <-entered; got != name {
			t.Fatalf("%s: entered %q", name, got)
		}
	}

	tests := []struct {
		name   string
		body   string
		status int
		id     string
	}{
		{"a second call is refused", call(2), http.StatusServiceUnavailable, "2"},
		{"a second other request is refused", `{"jsonrpc":"2.0","id":"p","method":"ping"}`, http.StatusServiceUnavailable, `"p"`},
		{"a cancel is no request and passes", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, http.StatusOK, ""},
		{"a client's response passes", `{"jsonrpc":"2.0","id":9,"result":{}}`, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(tt.name, tt.body, false)
			if rec.Code != tt.status {
				t.Fatalf("status %d; want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if tt.status == http.StatusOK {
				<-entered
				return
			}
			if rec.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After on a refusal")
			}
			var resp struct {
				ID    json.RawMessage `json:"id"`
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("refusal body %q: %v", rec.Body, err)
			}
			if string(resp.ID) != tt.id || resp.Error.Code != codeServerBusy || !strings.Contains(resp.Error.Message, "server busy: 1 requests") {
				t.Errorf("refusal %s; want id %s, code %d, a busy message", rec.Body, tt.id, codeServerBusy)
			}
		})
	}
	close(hold)
	<-done
	<-done
	if rec := post("after", call(3), false); rec.Code != http.StatusOK {
		t.Errorf("a call after the slot was freed: status %d (%s)", rec.Code, rec.Body)
	}
	<-entered
	if n := refused.Load(); n != 2 {
		t.Errorf("refused counted %d; want 2", n)
	}
}
