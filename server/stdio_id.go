package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/mark3labs/mcp-go/mcp"
)

// leadingID recovers the top-level "id" of a JSON-RPC request from the first
// bytes of a line too long to parse. It walks the object's members in order,
// skipping each value (strings, numbers, nested objects and arrays) without
// looking inside, so an "id" inside params is never taken for the request's.
// It returns the raw id (a string or a number, as valid JSON) or nil when the
// prefix is not an object, the id is not a string or number, or the prefix
// ends before the id (e.g. params came first): the caller then answers with
// a null id. Of several "id" members the last one seen counts.
func leadingID(b []byte) json.RawMessage {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil
	}
	i++
	// The last "id" member counts, as it does for encoding/json.
	var found json.RawMessage
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return found // '}', the end of the prefix, or not JSON
		}
		end, ok := skipString(b, i)
		if !ok {
			return found
		}
		var key string
		if json.Unmarshal(b[i:end], &key) != nil {
			return found
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return found
		}
		i = skipSpace(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok {
			return found
		}
		if key == "id" {
			found = nil
			raw := json.RawMessage(b[i:vend])
			// A number cut by the end of the prefix would be a different id.
			if _, valid := idKey(raw); valid && (raw[0] == '"' || vend < len(b)) {
				found = append(json.RawMessage(nil), raw...)
			}
		}
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] != ',' {
			return found
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the JSON value starting at b[i]. A
// scalar running to the end of b counts as complete (its caller decides);
// an unterminated string, object or array does not.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, j > i
}

// logID renders a canonical request id for logs: a string id without its
// JSON quotes, a number as is, a missing id as "null".
func logID(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	if raw[0] == '"' {
		if s, err := strconv.Unquote(string(raw)); err == nil {
			return s
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// mcp-go words an unknown tool as "tool 'x' not found: tool not found".
var toolNotFound = regexp.MustCompile(`^tool '(.*)' not found: tool not found$`)

// tidyError rewrites mcp-go error messages that repeat themselves.
func tidyError(resp mcp.JSONRPCMessage) mcp.JSONRPCMessage {
	e, ok := resp.(mcp.JSONRPCError)
	if !ok {
		if p, isPtr := resp.(*mcp.JSONRPCError); isPtr && p != nil {
			e, ok = *p, true
		}
	}
	if !ok {
		return resp
	}
	if m := toolNotFound.FindStringSubmatch(e.Error.Message); m != nil {
		e.Error.Message = "unknown tool " + strconv.Quote(m[1]) + "; tools/list shows the tools of this server"
		return e
	}
	return resp
}

// decodeError is the JSON-RPC error for a line that did not decode as a
// message, in the client's terms (no Go types as encoding/json names
// them): a member of the wrong type is an invalid request, anything else a
// parse error.
func decodeError(err error) (code int, msg string) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return codeInvalidRequest, fmt.Sprintf("invalid request: member %q must not be a JSON %s", te.Field, te.Value)
		}
		return codeInvalidRequest, fmt.Sprintf("invalid request: unexpected JSON %s", te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return codeParseError, fmt.Sprintf("parse error at byte %d: %v", se.Offset, se)
	}
	return codeParseError, "parse error: the line is not a complete JSON object"
}
