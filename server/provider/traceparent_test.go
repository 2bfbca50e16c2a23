package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestValidTraceParent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{validTP, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false}, // unknown version
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false}, // upper case
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false}, // zero trace id
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false}, // zero parent id
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false}, // dash misplaced
		{"", false},
	} {
		if got := ValidTraceParent(tc.in); got != tc.want {
			t.Errorf("ValidTraceParent(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := TraceID(validTP); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID = %q", got)
	}
}

func FuzzValidTraceParent(f *testing.F) {
	f.Add(validTP)
	f.Add("00-" + strings.Repeat("0", 32) + "-" + strings.Repeat("1", 16) + "-01")
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidTraceParent(s) {
			if TraceID(s) != "" {
				t.Fatalf("TraceID of invalid %q is not empty", s)
			}
			return
		}
		// A valid value has exactly the documented shape.
		parts := strings.Split(s, "-")
		if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
			t.Fatalf("accepted %q", s)
		}
		if TraceID(s) != parts[1] {
			t.Fatalf("TraceID(%q) = %q", s, TraceID(s))
		}
	})
}

// A call's traceparent reaches the provider on every request made with its
// context; without one no header is sent, and an invalid one is dropped.
func TestTraceMiddleware(t *testing.T) {
	got := make(chan string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(TraceParentHeader)
		http.Error(w, `{"error":{"message":"no"}}`, http.StatusBadRequest)
	}))
	defer ts.Close()
	c := openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0),
		option.WithHTTPClient(ts.Client()), option.WithMiddleware(TraceMiddleware))
	for _, tc := range []struct{ set, want string }{{validTP, validTP}, {"", ""}, {"garbage", ""}} {
		ctx := WithTraceParent(context.Background(), tc.set)
		_, _ = c.Files.Delete(ctx, "file-1")
		if h := <-got; h != tc.want {
			t.Errorf("with traceparent %q the provider saw %q, want %q", tc.set, h, tc.want)
		}
	}
}
