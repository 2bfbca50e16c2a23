package fakeai

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestUnion(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name  string
		spans []span
		want  time.Duration
	}{
		{"none", nil, 0},
		{"one", []span{{at(0), at(10)}}, 10 * time.Millisecond},
		{"overlapping, out of order", []span{{at(5), at(20)}, {at(0), at(10)}}, 20 * time.Millisecond},
		{"nested", []span{{at(0), at(30)}, {at(5), at(10)}}, 30 * time.Millisecond},
		{"apart", []span{{at(0), at(10)}, {at(20), at(25)}}, 15 * time.Millisecond},
		{"touching", []span{{at(0), at(10)}, {at(10), at(12)}}, 12 * time.Millisecond},
	} {
		if got := union(tc.spans); got != tc.want {
			t.Errorf("%s: union = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTraceIDAndToldToWait(t *testing.T) {
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if got := traceID(h); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("traceID = %q", got)
	}
	if got := traceID(http.Header{"Traceparent": {"garbage"}}); got != "" {
		t.Errorf("traceID of garbage = %q", got)
	}
	w := http.Header{}
	w.Set("openai-poll-after-ms", "40")
	if got := toldToWait(w); got != 40*time.Millisecond {
		t.Errorf("poll-after: %v", got)
	}
	w.Set("Retry-After-Ms", "250")
	if got := toldToWait(w); got != 250*time.Millisecond {
		t.Errorf("retry-after wins: %v", got)
	}
}

// Requests carrying a traceparent are accounted to its trace id, each until
// its answer plus the wait the answer asked for; others are not.
func TestServer_Upstream(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	f := New(WithFaults(Faults{RateLimit: Rule{Count: 1, RetryAfter: Duration(300 * time.Millisecond), Paths: []string{"GET /v1/models"}}}))
	ts := httptest.NewServer(f)
	defer ts.Close()
	defer f.Close()
	get := func(traced bool) int {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/models", nil)
		if traced {
			req.Header.Set("traceparent", "00-"+id+"-00f067aa0ba902b7-01")
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(true); code != http.StatusTooManyRequests {
		t.Fatalf("first request: %d, want 429", code)
	}
	get(true)
	get(false)
	u := f.Upstream(id)
	if u.Requests != 2 {
		t.Fatalf("requests = %d, want the 2 traced ones", u.Requests)
	}
	// The 429 asked for 300 ms: the two requests' union covers it.
	if u.Busy < 300*time.Millisecond || u.Busy > 5*time.Second {
		t.Fatalf("busy = %v, want the 300 ms Retry-After and the requests' own time", u.Busy)
	}
	if other := f.Upstream("00000000000000000000000000000001"); other.Requests != 0 || other.Busy != 0 {
		t.Fatalf("unknown trace: %+v", other)
	}
}
