package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// HTTPOptions configures the streamable HTTP transport.
type HTTPOptions struct {
	// Addr to listen on, e.g. 127.0.0.1:8765. A non-loopback address needs Token.
	Addr string
	// Token, when set, is required as "Authorization: Bearer <token>".
	Token string
	// Path of the MCP endpoint; "" means /mcp.
	Path string
	// AllowedOrigins are browser origins allowed besides loopback ones
	// (e.g. "https://app.example"); AllowedHosts likewise for the Host header
	// when the server is reached through a name other than localhost.
	AllowedOrigins []string
	AllowedHosts   []string
	// ShutdownGrace is how long in-flight requests may finish at shutdown
	// before they are cancelled; 0 means 5 s.
	ShutdownGrace time.Duration

	anyHost bool // non-loopback bind with a token: any Host is fine
}

// ErrTokenRequired: a non-loopback bind without a bearer token.
var ErrTokenRequired = errors.New("a bearer token (--http-token or SECONDBRAIN_HTTP_TOKEN) is required to listen on a non-loopback address")

// IsLoopbackAddr reports whether host:port (or a bare host) is loopback only.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// HTTPHandler returns the MCP streamable-HTTP handler wrapped in the bearer
// token and DNS-rebinding (Origin and Host) guard.
func (s *Server) HTTPHandler(opt HTTPOptions) http.Handler {
	if opt.Path == "" {
		opt.Path = "/mcp"
	}
	mcpH := mcpserver.NewStreamableHTTPServer(s.mcp,
		mcpserver.WithEndpointPath(opt.Path),
		mcpserver.WithStreamableHTTPLogger(s.opt.Logger.With("component", "http")),
	)
	mux := http.NewServeMux()
	mux.Handle(opt.Path, mcpH)
	return guard(opt, mux)
}

func guard(opt HTTPOptions, next http.Handler) http.Handler {
	origins := map[string]bool{}
	for _, o := range opt.AllowedOrigins {
		origins[strings.TrimRight(strings.ToLower(o), "/")] = true
	}
	hosts := map[string]bool{}
	for _, h := range opt.AllowedHosts {
		hosts[strings.ToLower(h)] = true
	}
	want := []byte("Bearer " + opt.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends
		// Host: evil.example and Origin: http://evil.example.
		if o := r.Header.Get("Origin"); o != "" && !originAllowed(o, origins) {
			http.Error(w, fmt.Sprintf("Forbidden: origin %q not allowed", o), http.StatusForbidden)
			return
		}
		if !opt.anyHost && !hostAllowed(r.Host, hosts) {
			http.Error(w, fmt.Sprintf("Forbidden: invalid Host header %q", r.Host), http.StatusForbidden)
			return
		}
		if opt.Token != "" {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="secondbrain"`)
				http.Error(w, "Unauthorized: missing or wrong bearer token", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(origin string, allowed map[string]bool) bool {
	o := strings.TrimRight(strings.ToLower(origin), "/")
	if allowed[o] {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return IsLoopbackAddr(u.Host)
}

func hostAllowed(host string, allowed map[string]bool) bool {
	if host == "" {
		return false
	}
	h := strings.ToLower(host)
	if allowed[h] {
		return true
	}
	if hn, _, err := net.SplitHostPort(h); err == nil && allowed[hn] {
		return true
	}
	return IsLoopbackAddr(h)
}

// ListenHTTP serves MCP over streamable HTTP on opt.Addr until ctx ends, then
// gives in-flight requests ShutdownGrace to finish and cancels the rest.
// ready (may be nil) receives the bound address (useful with port 0).
func (s *Server) ListenHTTP(ctx context.Context, opt HTTPOptions, ready func(addr string)) error {
	if !IsLoopbackAddr(opt.Addr) && opt.Token == "" {
		return fmt.Errorf("cannot listen on %q: %w", opt.Addr, ErrTokenRequired)
	}
	if opt.ShutdownGrace <= 0 {
		opt.ShutdownGrace = 5 * time.Second
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", opt.Addr, err)
	}
	// Reached by other names on a non-loopback bind: any Host, the token protects it.
	opt.anyHost = !IsLoopbackAddr(opt.Addr)
	baseCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	hs := &http.Server{
		Handler:           s.HTTPHandler(opt),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve HTTP on %q: %w", opt.Addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), opt.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		cancelRequests()
		_ = hs.Close()
	}
	<-errc
	return nil
}
