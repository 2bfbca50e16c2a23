package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/secondbrain-dev/secondbrain/server"
	"github.com/secondbrain-dev/secondbrain/server/provider"
)

// burst makes n concurrent requests that are all in flight at once, so the
// client opens n connections; it returns once all have completed.
func burst(t *testing.T, c *http.Client, url string, n int, gate chan struct{}, arrived *sync.WaitGroup) {
	t.Helper()
	arrived.Add(n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(url)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	arrived.Wait()
	close(gate)
	wg.Wait()
}

// QA: after an 81-file overflow call the server kept ~52 idle sockets to the
// provider. The default client keeps at most DefaultMaxIdleConnsPerHost, and
// POST /debug/settle closes those and says how many descriptors went.
func TestSettle_BoundedPoolAndSettle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	gate := make(chan struct{})
	var arrived sync.WaitGroup
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-gate
	}))
	defer ts.Close()
	c := provider.DefaultHTTPClient()
	defer c.CloseIdleConnections()
	const n = 3 * provider.DefaultMaxIdleConnsPerHost
	burst(t, c, ts.URL, n, gate, &arrived)

	h := server.SettleHandler(server.SettleOptions{HTTPClients: []*http.Client{c}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/settle", nil))
	var rep server.SettleReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
		t.Fatalf("settle: %d %s (%v)", rec.Code, rec.Body, err)
	}
	t.Logf("settle after a burst of %d: %+v", n, rep)
	// The client's idle sockets close synchronously (DefaultMaxIdleConnsPerHost
	// of them); the server ends of those may close before the count too.
	if rep.HTTPClients != 1 || rep.Closed < provider.DefaultMaxIdleConnsPerHost || rep.Closed >= n {
		t.Errorf("closed %d descriptors, want between %d and %d (the pool bound): %+v", rep.Closed, provider.DefaultMaxIdleConnsPerHost, n-1, rep)
	}
	// Nothing idle is left on the client side (server ends may still be closing).
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/settle", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rep.Closed > provider.DefaultMaxIdleConnsPerHost {
		t.Errorf("second settle closed more: %+v (%v)", rep, err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/settle", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", rec.Code)
	}
}
