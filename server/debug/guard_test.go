package debug

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// A page that rebinds its own name to 127.0.0.1 reaches the listener with
// its own Host and Origin: nothing may be served or changed for it.
func TestListener_refusesRebindingHostsAndOrigins(t *testing.T) {
	l := start(t, Options{})
	tests := []struct {
		name, method, path, host, origin string
		want                             int
	}{
		{"loopback IP", http.MethodGet, "/debug/runtime", "", "", http.StatusOK},
		{"localhost", http.MethodGet, "/debug/runtime", "localhost", "", http.StatusOK},
		{"loopback origin", http.MethodPost, "/debug/profiling?block=0&mutex=0", "", "http://127.0.0.1:3000", http.StatusOK},
		{"foreign Host reads cmdline", http.MethodGet, "/debug/pprof/cmdline", "evil.example.com", "", http.StatusForbidden},
		{"foreign Host with loopback port", http.MethodGet, "/debug/pprof/goroutine?debug=2", "evil.example.com:80", "", http.StatusForbidden},
		{"foreign Origin posts", http.MethodPost, "/debug/cpuprofile?action=start", "", "http://evil.example.com", http.StatusForbidden},
		{"null Origin", http.MethodPost, "/debug/profiling?block=1", "", "null", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, l.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s (Host %q, Origin %q) = %d, want %d", tt.method, tt.path, tt.host, tt.origin, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestRedactArgs(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"sb", "serve", "--http-token", "T0k", "--http", "127.0.0.1:1"},
			[]string{"sb", "serve", "--http-token", "[redacted]", "--http", "127.0.0.1:1"}},
		{[]string{"sb", "--http-token=T0k", "-api-key=K", "--db", "x.db"},
			[]string{"sb", "--http-token=[redacted]", "-api-key=[redacted]", "--db", "x.db"}},
		{[]string{"sb", "--client-secret"}, []string{"sb", "--client-secret"}},
		{[]string{"sb", "--note", "sk-live"}, []string{"sb", "--note", "sk-***"}},
	}
	redact := func(s string) string { return strings.ReplaceAll(s, "sk-live", "sk-***") }
	for _, tt := range tests {
		got := redactArgs(tt.in, redact)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("redactArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// net/http/pprof's Cmdline served serve's --http-token in clear.
func TestListener_cmdlineHidesCredentials(t *testing.T) {
	saved := os.Args
	os.Args = append(slices.Clone(saved), "--http-token", "S3CRET-T0KEN", "--api-key=S3CRET-KEY")
	t.Cleanup(func() { os.Args = saved })
	l := start(t, Options{})
	code, body := get(t, l.URL()+"/debug/pprof/cmdline")
	if code != http.StatusOK {
		t.Fatalf("cmdline: %d", code)
	}
	if bytes.Contains(body, []byte("S3CRET")) || !bytes.Contains(body, []byte("--http-token\x00[redacted]")) {
		t.Errorf("cmdline = %q; want the credentials hidden", body)
	}
}
