// Package redact removes secrets — API keys, bearer tokens, Authorization
// headers and configured literals — from text before it reaches any log
// sink or the project memory. One policy serves both, so a key shape added
// here is masked everywhere.
package redact

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
)

// Redacted replaces every secret the [Redactor] finds.
const Redacted = "[REDACTED]"

// MinSecretLen is the shortest literal secret a [Redactor] accepts: a
// shorter one would blank out ordinary words in every record.
const MinSecretLen = 6

// secretKeys are attribute keys whose values are always replaced, whatever
// they contain (compared case-insensitively, '-' and '_' alike).
var secretKeys = map[string]bool{
	"authorization":       true,
	"proxy_authorization": true,
	"api_key":             true,
	"apikey":              true,
	"x_api_key":           true,
	"access_token":        true,
	"refresh_token":       true,
	"token":               true,
	"secret":              true,
	"password":            true,
	"openai_api_key":      true,
	"xai_api_key":         true,
}

// secretPattern finds API keys in the shapes providers issue (OpenAI and
// Anthropic "sk-…", xAI "xai-…", Google "AIza…") and bearer tokens, anywhere in a line.
// \b keeps words like "disk-usage" or "task-runner" intact.
const secretPattern = `\b(?:sk|xai)-[A-Za-z0-9_\-]{8,}|\bAIza[0-9A-Za-z_\-]{30,}|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}`

// Redactor removes secrets from encoded log lines before they reach any
// sink. It is immutable after [New] and safe for concurrent use.
//
// It works on two levels: [Redactor.ReplaceAttr] blanks the values of
// attributes whose key names a secret (authorization, api_key, token, …),
// and [Redactor.Redact] rewrites the encoded bytes, which catches secrets
// embedded in messages, errors, URLs and nested values whatever the key.
type Redactor struct {
	re       *regexp.Regexp
	literals [][]byte // each literal secret in raw, JSON- and Go-quoted forms
}

// NewRedactor returns a Redactor for the built-in patterns plus the given
// literal secrets (for example the configured API keys). Empty strings are
// ignored; literals shorter than [MinSecretLen] are ignored too, because
// redacting them would mangle ordinary text.
func New(secrets ...string) *Redactor {
	alts := []string{secretPattern}
	r := &Redactor{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < MinSecretLen || seen[s] {
			continue
		}
		seen[s] = true
		for _, form := range encodedForms(s) {
			alts = append(alts, regexp.QuoteMeta(form))
			r.literals = append(r.literals, []byte(form))
		}
	}
	r.re = regexp.MustCompile(strings.Join(alts, "|"))
	return r
}

// encodedForms lists how s may appear in a text or JSON encoded line.
func encodedForms(s string) []string {
	forms := []string{s}
	if b, err := json.Marshal(s); err == nil {
		if q := string(b[1 : len(b)-1]); q != s {
			forms = append(forms, q)
		}
	}
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		forms = append(forms, q[1:len(q)-1])
	}
	return forms
}

// mayContainSecret is the cheap pre-check that keeps the regexp off the
// common path: most lines contain none of these substrings.
func (r *Redactor) mayContainSecret(p []byte) bool {
	if bytes.Contains(p, []byte("sk-")) || bytes.Contains(p, []byte("xai-")) || bytes.Contains(p, []byte("AIza")) ||
		bytes.Contains(p, []byte("earer")) || bytes.Contains(p, []byte("EARER")) {
		return true
	}
	for _, l := range r.literals {
		if bytes.Contains(p, l) {
			return true
		}
	}
	return false
}

// Redact returns a copy of p with every secret replaced by [Redacted]. The
// result never aliases p, so callers may keep it after p is reused.
func (r *Redactor) Redact(p []byte) []byte {
	if r == nil || !r.mayContainSecret(p) {
		return bytes.Clone(p)
	}
	return r.re.ReplaceAllLiteral(p, []byte(Redacted))
}

// RedactString is [Redactor.Redact] for strings.
func (r *Redactor) RedactString(s string) string {
	if r == nil || !r.mayContainSecret([]byte(s)) {
		return s
	}
	return r.re.ReplaceAllLiteralString(s, Redacted)
}

// ReplaceAttr is a [slog.HandlerOptions.ReplaceAttr] that blanks attributes
// whose key names a secret. It is chained in front of any user ReplaceAttr.
func (r *Redactor) ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if isSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

func isSecretKey(k string) bool {
	if len(k) > 32 {
		return false
	}
	k = strings.ToLower(strings.ReplaceAll(k, "-", "_"))
	return secretKeys[k]
}
