package server

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeMessage decodes one JSON-RPC message: without reflection when
// decodeEnvelope can, else by encoding/json (whose errors it returns).
func decodeMessage(b []byte) (message, error) {
	if msg, ok := decodeEnvelope(b); ok {
		return msg, nil
	}
	var msg message
	err := json.Unmarshal(b, &msg)
	return msg, err
}

// decodeEnvelope reads a line's top-level JSON-RPC members without
// reflection, for the form every client writes: a valid JSON object whose
// member names are plain ASCII (no escapes), whose "jsonrpc" and "method",
// when present, are strings without escapes. The raw members (id, params,
// result, error) alias line. Anything else reports false and the caller
// decodes with encoding/json, whose result this one equals whenever it
// reports true (FuzzDecodeEnvelope): names match case-insensitively and
// the last of duplicate members counts, as they do there.
//
// It is on every request's path: json.Unmarshal into message took 14 % of
// the server's CPU per stdio ping (reflection, the field cache's sync.Map,
// eight allocations), where a trivial echo spends 6 %.
func decodeEnvelope(line []byte) (msg message, ok bool) {
	if !json.Valid(line) {
		return message{}, false
	}
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return message{}, false
	}
	i++
	for {
		i = skipSpace(line, i)
		if line[i] == '}' {
			return msg, true
		}
		// Valid JSON: a member name, a colon, a value, then ',' or '}'.
		end, _ := skipString(line, i)
		name := line[i+1 : end-1]
		i = skipSpace(line, skipSpace(line, end)+1)
		vend, _ := skipValue(line, i)
		if !plainName(name) || !msg.set(name, line[i:vend]) {
			return message{}, false
		}
		i = skipSpace(line, vend)
		if line[i] == ',' {
			i++
		}
	}
}

// plainName reports whether a member name is ASCII without escapes: such a
// name matches a field as encoding/json would match it, by ASCII case
// folding (it also folds a few non-ASCII letters, like K for the Kelvin sign).
func plainName(name []byte) bool {
	for _, c := range name {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// set stores one member's value; false when encoding/json must decide it
// (a string member that is not a plain string).
func (m *message) set(name, value []byte) bool {
	switch {
	case bytes.EqualFold(name, []byte("jsonrpc")):
		s, ok := plainString(value)
		m.JSONRPC = s
		return ok
	case bytes.EqualFold(name, []byte("method")):
		s, ok := plainString(value)
		m.Method = s
		return ok
	case bytes.EqualFold(name, []byte("id")):
		m.ID = value
	case bytes.EqualFold(name, []byte("params")):
		m.Params = value
	case bytes.EqualFold(name, []byte("result")):
		m.Result = value
	case bytes.EqualFold(name, []byte("error")):
		m.Error = value
	}
	return true
}

// plainString returns a JSON string value without escapes as a Go string
// (encoding/json would replace invalid UTF-8: such a value is not plain).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 || !utf8.Valid(v) {
		return "", false
	}
	return string(v[1 : len(v)-1]), true
}
