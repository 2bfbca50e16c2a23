package probes

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDebugClient_Settle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		handler http.HandlerFunc
		wantErr error // nil: success; ErrNotServed; errAny: any error
	}{
		{"served", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/debug/settle" {
				http.Error(w, "want POST /debug/settle", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"closed_fds":3}`))
		}, nil},
		{"not served", http.NotFound, ErrNotServed},
		{"refused", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
		}, errAny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			dc := NewDebugClient(srv.URL, nil)
			defer dc.Close()
			b, err := dc.Settle(context.Background())
			switch {
			case c.wantErr == nil && (err != nil || string(b) != `{"closed_fds":3}`):
				t.Errorf("Settle = %q, %v; want the report", b, err)
			case c.wantErr == ErrNotServed && !errors.Is(err, ErrNotServed):
				t.Errorf("Settle err = %v; want ErrNotServed", err)
			case c.wantErr == errAny && (err == nil || errors.Is(err, ErrNotServed)):
				t.Errorf("Settle err = %v; want a plain error", err)
			}
		})
	}
}

var errAny = errors.New("any error")
