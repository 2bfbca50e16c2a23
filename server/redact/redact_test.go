package redact

import "testing"

func TestRedactor(t *testing.T) {
	r := New("my-literal-secret", "short")
	f := func(in, want string) {
		t.Helper()
		if got := string(r.Redact([]byte(in))); got != want {
			t.Errorf("Redact(%q) = %q; want %q", in, got, want)
		}
	}
	f("no secrets here", "no secrets here")
	f("key sk-abcdefgh12345", "key [REDACTED]")
	f("key=xai-ABCDEFGH_123-x end", "key=[REDACTED] end")
	f("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [REDACTED]")
	f("authorization: bearer abcdefghijk", "authorization: [REDACTED]")
	f("risk-assessment and disk-usage-report", "risk-assessment and disk-usage-report")
	f("sk-short", "sk-short")
	f("gemini AIzaSyA1234567890abcdefghijklmnopqrstu ok", "gemini [REDACTED] ok")
	f("\"key\":\"my-literal-secret\"", "\"key\":\"[REDACTED]\"")
	if got := r.RedactString("x sk-abcdefgh12345"); got != "x [REDACTED]" {
		t.Errorf("RedactString = %q", got)
	}
	var nilR *Redactor
	if got := nilR.RedactString("sk-abcdefgh12345"); got != "sk-abcdefgh12345" {
		t.Errorf("nil Redactor changed text: %q", got)
	}
	f("pw my-literal-secret!", "pw [REDACTED]!")
	f("too short to be a secret: short", "too short to be a secret: short")
	if !isSecretKey("Authorization") || !isSecretKey("x-api-key") || isSecretKey("path") {
		t.Error("isSecretKey misclassifies")
	}
}
