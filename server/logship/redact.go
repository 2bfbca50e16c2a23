package logship

import "github.com/secondbrain-dev/secondbrain/server/redact"

// Redactor removes secrets from encoded log lines before they reach any
// sink; it is [redact.Redactor], shared with the project memory.
type Redactor = redact.Redactor

// Redacted replaces every secret a [Redactor] finds.
const Redacted = redact.Redacted

// NewRedactor returns a Redactor for the built-in patterns plus the given
// literal secrets (see [redact.New]).
func NewRedactor(secrets ...string) *Redactor { return redact.New(secrets...) }
