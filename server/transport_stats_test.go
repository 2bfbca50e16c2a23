package server_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

// TransportStats carries the stdio loop's accounting (here a malformed
// line) to /debug/vars.
func TestTransportStats_stdio(t *testing.T) {
	_, base := startFake(t)
	st, err := session.Open(context.Background(), filepath.Join(t.TempDir(), "sb.db"), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{Endpoints: endpoints(base, "k"), Roots: []string{t.TempDir()}, Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := srv.TransportStats(); got.Malformed != 0 || got.Refused != 0 {
		t.Fatalf("before serving: %+v", got)
	}
	in := strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":` + "\n" + `not json` + "\n")
	if err := srv.ServeStdio(context.Background(), in, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := srv.TransportStats().Malformed; got != 2 {
		t.Errorf("Malformed = %d after two bad lines; want 2", got)
	}
}
