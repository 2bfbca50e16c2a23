package server_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
//
// The descriptor counts are process-wide, so the test first waits until the
// server side has seen the client drop every connection beyond the pool
// bound (it closes them when the burst ends, asynchronously); only then is
// what settle closes this test's pooled sockets alone.
func TestSettle_BoundedPoolAndSettle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	gate := make(chan struct{})
	var arrived sync.WaitGroup
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-gate
	}))
	var open atomic.Int64
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	ts.Start()
	defer ts.Close()
	c := provider.DefaultHTTPClient()
	defer c.CloseIdleConnections()
	const pool = provider.DefaultMaxIdleConnsPerHost
	const n = 3 * pool
	burst(t, c, ts.URL, n, gate, &arrived)
	if got := waitOpen(&open, pool); got != pool {
		t.Fatalf("after a burst of %d the client kept %d connections, want the pool bound %d", n, got, pool)
	}

	h := server.SettleHandler(server.SettleOptions{HTTPClients: []*http.Client{c}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/settle", nil))
	var rep server.SettleReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
		t.Fatalf("settle: %d %s (%v)", rec.Code, rec.Body, err)
	}
	t.Logf("settle after a burst of %d: %+v", n, rep)
	// The client's pooled sockets close synchronously; the server ends of
	// those may close before the second count too.
	if rep.HTTPClients != 1 || rep.Closed < pool || rep.Closed > 2*pool {
		t.Errorf("closed %d descriptors, want between %d and %d (both ends of the pool): %+v", rep.Closed, pool, 2*pool, rep)
	}
	if got := waitOpen(&open, 0); got != 0 {
		t.Errorf("after settle %d connections are still open, want 0", got)
	}
	// Nothing idle is left on the client side.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/debug/settle", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rep.Closed > pool {
		t.Errorf("second settle closed more: %+v (%v)", rep, err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/settle", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", rec.Code)
	}
}

// waitOpen waits until the server's open connection count is want, or gives
// up after 10 s (a generous bound on a loaded machine: the wait is for an
// event, not a timing claim) and returns the count it last saw.
func waitOpen(open *atomic.Int64, want int64) int64 {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := open.Load()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}
