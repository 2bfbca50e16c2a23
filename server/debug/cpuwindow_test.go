package debug

import (
	"context"
	"crypto/sha256"
	"net/http"
	"runtime/pprof"
	"testing"

	"github.com/google/pprof/profile"
)

// A window covers what ran between start and stop, labels included; a
// second start, a stop without a start and other methods are refused.
func TestCPUWindow(t *testing.T) {
	l := start(t, Options{})
	u := l.URL() + "/debug/cpuprofile?action="
	if code, _ := post(t, u+"stop"); code != http.StatusConflict {
		t.Fatalf("stop without a window: %d, want 409", code)
	}
	if code, b := post(t, u+"start"); code != http.StatusOK {
		t.Fatalf("start: %d %s", code, b)
	}
	if code, _ := post(t, u+"start"); code != http.StatusConflict {
		t.Fatalf("second start: %d, want 409", code)
	}
	if code, _ := get(t, u+"stop"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d, want 405", code)
	}
	pprof.Do(context.Background(), pprof.Labels("path", "request"), func(context.Context) {
		b := make([]byte, 1<<20)
		for range 300 { // ~0.2–0.5 s of CPU: enough 10 ms samples
			sum := sha256.Sum256(b)
			b[0] = sum[0]
		}
	})
	code, b := post(t, u+"stop")
	if code != http.StatusOK {
		t.Fatalf("stop: %d %s", code, b)
	}
	p, err := profile.ParseData(b)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	labelled := 0
	for _, s := range p.Sample {
		if len(s.Label["path"]) > 0 && s.Label["path"][0] == "request" {
			labelled++
		}
	}
	if labelled == 0 {
		t.Fatalf("no sample labelled path=request in %d samples", len(p.Sample))
	}
	if code, _ := post(t, u+"bogus"); code != http.StatusBadRequest {
		t.Fatalf("bogus action: %d, want 400", code)
	}
}
