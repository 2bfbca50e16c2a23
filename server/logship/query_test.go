package logship

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestQuery_bounds(t *testing.T) {
	var gotQuery, gotLimit string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/select/logsql/query" {
			http.Error(w, "wrong endpoint", http.StatusNotFound)
			return
		}
		gotQuery, gotLimit = r.FormValue("query"), r.FormValue("limit")
		if gotQuery == "bad(" {
			http.Error(w, "cannot parse query", http.StatusBadRequest)
			return
		}
		for i := range 30 { // ignores limit, like a misbehaving server would
			fmt.Fprintf(w, `{"_msg":"m%d","_time":"2026-11-25T00:00:00Z"}`+"\n", i)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name      string
		query     string
		limit     int
		maxBytes  int
		wantN     int
		wantLimit string
		wantErr   error
	}{
		{"limit honoured client-side", "*", 10, 0, 10, "10", nil},
		{"default limit", "*", 0, 0, 30, "100", nil},
		{"limit capped", "*", 1 << 30, 0, 30, "10000", nil},
		{"byte bound truncates at a line", "*", 100, 200, 4, "100", ErrTruncated},
		{"byte bound smaller than a line", "*", 100, 10, 0, "100", ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Query(ctx, srv.URL+"/", tt.query, tt.limit, tt.maxBytes)
			if !errors.Is(err, tt.wantErr) || len(recs) != tt.wantN || gotLimit != tt.wantLimit || gotQuery != tt.query {
				t.Errorf("got %d records, err %v, limit %q; want %d, %v, %q", len(recs), err, gotLimit, tt.wantN, tt.wantErr, tt.wantLimit)
			}
		})
	}
	if _, err := Query(ctx, srv.URL, "bad(", 10, 0); err == nil || !strings.Contains(err.Error(), "cannot parse query") {
		t.Errorf("bad query: %v", err)
	}
}
