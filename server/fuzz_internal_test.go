package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// leadingID reads the id of a line too long to decode. Whatever it
// returns must be a JSON string or number, and when the line is a whole
// JSON object it must be that object's top-level id.
func FuzzLeadingID(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"ping"}`,
		`{"params":{"id":"inner"},"id":"outer"}`,
		`{"id":1,"id":2}`, `{"id":null}`, `{"id":{"a":1}}`, `{"a":"\"id\":3","id":-1.5e3}`, `[{"id":1}]`, `{"id":"\u00e9\"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id := leadingID(b)
		if id == nil {
			return
		}
		if _, ok := idKey(id); !ok {
			t.Fatalf("leadingID(%q) = %q: not a string or number id", b, id)
		}
		var whole struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(b, &whole) == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) && len(whole.ID) > 0 {
			got, _ := idKey(id)
			want, ok := idKey(whole.ID)
			if ok && got != want {
				t.Fatalf("leadingID(%q) = %s, the object's id is %s", b, got, want)
			}
		}
	})
}

func FuzzIDKey(f *testing.F) {
	for _, s := range []string{`1`, `"a"`, `-0.5e10`, `"\ud800"`, `null`, `{}`, `0x1`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, ok := idKey(b)
		if ok && !json.Valid([]byte(k)) {
			t.Fatalf("idKey(%q) = %q, not JSON", b, k)
		}
		if wk, wok := idKeyDecoded(b); k != wk || ok != wok {
			t.Fatalf("idKey(%q) = %q, %v; decoding and re-encoding it gives %q, %v", b, k, ok, wk, wok)
		}
	})
}

// The HTTP checks run on every request body before mcp-go: they must
// never panic, never pass on a body over the cap, and pass every other
// body on unchanged.
func FuzzSessionChecks(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
		`[{"method":"x"}]`, `{"method":5}`, `{"params":{"_meta":null}}`, `null`, ``,
	} {
		f.Add([]byte(s), "", http.MethodPost)
	}
	const limit = 4096
	ids := newSessionIDs(10, time.Minute, nil)
	bound := newInFlightBound(0, 0, new(atomic.Uint64))
	f.Fuzz(func(t *testing.T, body []byte, session, method string) {
		if method != http.MethodPost && method != http.MethodDelete && method != http.MethodGet {
			method = http.MethodPost
		}
		var seen []byte
		reached := false
		h := sessionChecks(ids, limit, bound, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			seen, _ = io.ReadAll(r.Body)
		}))
		req := httptest.NewRequest(method, "/mcp", bytes.NewReader(body))
		if session != "" && validHeaderValue(session) {
			req.Header.Set("Mcp-Session-Id", session)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if method == http.MethodPost && len(body) > limit && reached {
			t.Fatalf("a %d-byte body passed a %d-byte cap", len(body), limit)
		}
		if reached && method == http.MethodPost && !bytes.Equal(seen, body) {
			t.Fatalf("the body reached mcp-go changed: %q → %q", body, seen)
		}
	})
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// decodeEnvelope is the fast path of every stdio request's decoding: when
// it reports a message, encoding/json must decode the line to the same one,
// and every ordinary request line must take it.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"ping"}`,
		`{ "jsonrpc" : "2.0" , "id" : "a b" , "method" : "tools/call" , "params" : { "name" : "x" , "arguments" : {} } }`,
		`{"JSONRPC":"2.0","Id":1,"METHOD":"ping"}`, `{"id":1,"id":2,"method":"a","method":"b"}`,
		`{"method":"\u0070ing","id":1}`, `{"m\u0065thod":"ping"}`, `{"method":null}`, `{"method":5}`,
		`{"jsonrpc":"2.0","result":{"a":[1,2,{"b":"}"}]},"id":"x"}`, `{"error":{"code":-1},"id":null}`,
		`{"method":"\xff"}`, `{"\u212a":1}`, `{}`, `{"id":1`, `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeEnvelope(b)
		var want message
		err := json.Unmarshal(b, &want)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("decodeEnvelope(%q) took a line encoding/json refuses: %v", b, err)
		}
		if got.JSONRPC != want.JSONRPC || got.Method != want.Method ||
			!bytes.Equal(got.ID, want.ID) || !bytes.Equal(got.Params, want.Params) ||
			!bytes.Equal(got.Result, want.Result) || !bytes.Equal(got.Error, want.Error) {
			t.Fatalf("decodeEnvelope(%q) = %+v; encoding/json decodes %+v", b, got, want)
		}
	})
}

func TestDecodeEnvelope_fastPath(t *testing.T) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"chat_with_o3","arguments":{"prompt":"hé \"quoted\""}}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}`,
		`{"jsonrpc":"2.0","id":3,"result":{}}`,
	} {
		if _, ok := decodeEnvelope([]byte(s)); !ok {
			t.Errorf("decodeEnvelope(%s) fell back to encoding/json", s)
		}
	}
}
