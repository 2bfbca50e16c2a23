package debug

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// loopbackOnly refuses requests a web page could make through DNS
// rebinding: a page on evil.example resolved to 127.0.0.1 reaches the
// listener with Host: evil.example (and, for a POST or a fetch, Origin:
// http://evil.example). Only loopback names are accepted in Host, and an
// Origin, when sent, must be loopback too — so no state-changing endpoint
// (POST /debug/settle, /debug/profiling, /debug/cpuprofile) can be driven
// from another origin.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, fmt.Sprintf("Forbidden: Host %q is not a loopback name", r.Host), http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Host == "" || !loopbackHost(u.Host) {
				http.Error(w, fmt.Sprintf("Forbidden: origin %q is not loopback", o), http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether host (with or without a port) names the
// loopback interface: localhost, 127.0.0.0/8 or ::1.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// secretFlagWords mark a flag whose value is a credential.
var secretFlagWords = []string{"token", "key", "secret", "password", "passwd", "credential"}

// redactArgs returns args with the value of every credential flag
// (--http-token T, --api-key=K, …) replaced, and then redact applied to
// each argument, if set.
func redactArgs(args []string, redact func(string) string) []string {
	out := make([]string, len(args))
	hideNext := false
	for i, a := range args {
		switch {
		case hideNext:
			a, hideNext = "[redacted]", false
		case strings.HasPrefix(a, "-"):
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if secretFlag(name) {
				if hasValue {
					a = a[:strings.Index(a, "=")+1] + "[redacted]"
				} else {
					hideNext = true
				}
			}
		}
		if redact != nil {
			a = redact(a)
		}
		out[i] = a
	}
	return out
}

func secretFlag(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretFlagWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// serveCmdline replaces net/http/pprof's Cmdline, which serves os.Args as
// they are — credentials given as flags included.
func (l *Listener) serveCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(redactArgs(os.Args, l.o.Redact), "\x00"))
}
