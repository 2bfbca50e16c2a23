package server

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// args reads tool arguments leniently: booleans and numbers that arrive as
// strings ("true", "0.2") are coerced, not rejected — the original server's FastMCP
// layer rejected them, failing calls that hosts send that way. Every problem names the parameter.
type args map[string]any

func (a args) has(k string) bool {
	v, ok := a[k]
	return ok && v != nil
}

func (a args) str(k string, required bool) (string, error) {
	v, ok := a[k]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("missing required parameter %q", k)
		}
		return "", nil
	}
	switch x := v.(type) {
	case string:
		if required && strings.TrimSpace(x) == "" {
			return "", fmt.Errorf("parameter %q must not be empty", k)
		}
		return x, nil
	case float64, bool:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("parameter %q must be a string, got %s", k, jsonKind(v))
}

// strs accepts a list of strings, a single string, or a string holding a JSON list.
func (a args) strs(k string, required bool) ([]string, error) {
	v, ok := a[k]
	if !ok || v == nil {
		if required {
			return nil, fmt.Errorf("missing required parameter %q (a list of paths; may be empty)", k)
		}
		return nil, nil
	}
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("parameter %q: item %d must be a string, got %s", k, i, jsonKind(e))
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return x, nil
	case string:
		t := strings.TrimSpace(x)
		if strings.HasPrefix(t, "[") {
			var out []string
			if err := json.Unmarshal([]byte(t), &out); err != nil {
				return nil, fmt.Errorf("parameter %q: cannot parse %q as a JSON list of strings: %w", k, t, err)
			}
			return out, nil
		}
		if t == "" {
			return []string{}, nil
		}
		return []string{t}, nil
	}
	return nil, fmt.Errorf("parameter %q must be a list of strings, got %s", k, jsonKind(v))
}

func (a args) boolean(k string, def bool) (bool, error) {
	v, ok := a[k]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return def, fmt.Errorf("parameter %q must be a boolean, got %q", k, x)
		}
		return b, nil
	case float64:
		return x != 0, nil
	}
	return def, fmt.Errorf("parameter %q must be a boolean, got %s", k, jsonKind(v))
}

func (a args) number(k string) (*float64, error) {
	v, ok := a[k]
	if !ok || v == nil {
		return nil, nil
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return nil, fmt.Errorf("parameter %q must be a number, got %q", k, x)
		}
	default:
		return nil, fmt.Errorf("parameter %q must be a number, got %s", k, jsonKind(v))
	}
	// "NaN" and "Inf" parse as numbers and pass every range check (all
	// comparisons with NaN are false), then fail deep in a provider call.
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("parameter %q must be a finite number, got %v", k, f)
	}
	return &f, nil
}

func (a args) integer(k string, def int) (int, error) {
	f, err := a.number(k)
	if err != nil || f == nil {
		return def, err
	}
	if *f != float64(int(*f)) {
		return def, fmt.Errorf("parameter %q must be an integer, got %v", k, *f)
	}
	return int(*f), nil
}

// object accepts a JSON object or a string holding one.
func (a args) object(k string) (map[string]any, error) {
	v, ok := a[k]
	if !ok || v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(x), &m); err != nil {
			return nil, fmt.Errorf("parameter %q: cannot parse as a JSON object: %w", k, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("parameter %q must be an object, got %s", k, jsonKind(v))
}

func oneOf(k, v string, allowed ...string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("parameter %q must be one of %s, got %q", k, strings.Join(allowed, ", "), v)
}

// jsonKind names the JSON type of a decoded value, for error messages
// (a Go type such as map[string]interface {} means nothing to a client).
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, json.Number, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// MaxSessionIDLen bounds a session_id: it is a key in the session store and
// is written into every log line of its call.
const MaxSessionIDLen = 256

// checkSessionID refuses a session_id that is too long or holds control
// characters.
func checkSessionID(id string) error {
	if len(id) > MaxSessionIDLen {
		return fmt.Errorf("parameter \"session_id\" is %d bytes long; at most %d are allowed", len(id), MaxSessionIDLen)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("parameter \"session_id\" must not contain control characters (found %U)", r)
		}
	}
	return nil
}
