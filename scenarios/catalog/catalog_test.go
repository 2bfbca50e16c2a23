package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios"
	"github.com/secondbrain-dev/secondbrain/server/faults"
)

// The incident catalog: one scenario per incident of the original server.
var want = []string{"back-to-back", "gap-3min", "gap-5min", "no-context-interleave", "cancel-mid-upload",
	"log-storm", "slow-uploads", "session-continue", "long-poll", "store-limit", "cancel-delete",
	"stderr-backpressure", "gap-sweep"}

func TestLoad(t *testing.T) {
	scs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]bool{}
	var total time.Duration
	for _, sc := range scs {
		byName[sc.Name] = true
		if base := strings.TrimSuffix(filepath.Base(sc.File()), ".yaml"); base != sc.Name {
			t.Errorf("%s holds scenario %q; name the file after the scenario", sc.File(), sc.Name)
		}
		total += sc.RealLength()
	}
	for _, n := range want {
		if !byName[n] {
			t.Errorf("catalog lacks %q", n)
		}
	}
	// CI runs the catalog at 60×: its gaps alone must leave room in the
	// 3-minute budget for the calls.
	if total/60 > 90*time.Second {
		t.Errorf("catalog gaps total %v real time, %v at 60×; too long for CI", total, total/60)
	}
}

// TestSources checks every scenario quotes its seed verbatim. The seeds sit
// outside the module (../shared/seeds); the test skips when they are absent.
func TestSources(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "seeds")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("seeds not found at %s", dir)
	}
	scs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		seed, err := os.ReadFile(filepath.Join(dir, sc.Source.Seed))
		if err != nil {
			t.Errorf("%s: cannot read seed %q: %v", sc.Name, sc.Source.Seed, err)
			continue
		}
		if !strings.Contains(string(seed), strings.TrimSpace(sc.Source.Quote)) {
			t.Errorf("%s: quote %q not found in %s", sc.Name, sc.Source.Quote, sc.Source.Seed)
		}
	}
}

func TestGapSweep(t *testing.T) {
	scs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		if sc.Name != "gap-sweep" {
			continue
		}
		var gaps []string
		for i, st := range sc.Steps {
			if st.Gap == nil {
				continue
			}
			gaps = append(gaps, st.Gap.String())
			if i+1 >= len(sc.Steps) || sc.Steps[i+1].Call == nil || sc.Steps[i+1].Call.Expect != "" {
				t.Errorf("gap %v is not followed by a call expected to succeed", st.Gap)
			}
		}
		if got := strings.Join(gaps, " "); got != "30s 1m0s 1m30s 2m0s 3m0s 4m0s 5m0s 6m0s" {
			t.Errorf("gaps %s", got)
		}
		return
	}
	t.Fatal("no gap-sweep scenario")
}

// TestThresholds decodes every scenario's thresholds block over the
// defaults: a typo there must fail here, not at replay time.
func TestThresholds(t *testing.T) {
	scs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		if _, err := scenarios.ScenarioThresholds(sc); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
	}
}

// TestCanaries checks the canary table against the catalog and the rule
// set: every canary the probes know runs a scenario that exists and has a
// cause to name.
func TestCanaries(t *testing.T) {
	scs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, sc := range scs {
		names[sc.Name] = true
	}
	cs := Canaries()
	if len(cs) != len(faults.All())+len(canaryLoad) {
		t.Errorf("%d canary runs; the server's registry has %d faults, %d with a load scenario too", len(cs), len(faults.All()), len(canaryLoad))
	}
	for _, c := range cs {
		if !names[c.Scenario] {
			t.Errorf("canary %q runs unknown scenario %q", c.Name, c.Scenario)
		}
		if c.Cause == "" || c.Culprit == "" || len(c.Args) == 0 {
			t.Errorf("canary %q: cause %q, culprit %q, args %v", c.Name, c.Cause, c.Culprit, c.Args)
		}
	}
	for name := range canaryScenario {
		if _, ok := faults.Lookup(name); !ok {
			t.Errorf("a scenario for %q, which is no fault", name)
		}
	}
	for name, sc := range canaryLoad {
		if _, ok := faults.Lookup(name); !ok || !names[sc] {
			t.Errorf("a load scenario %q for %q: unknown fault or scenario", sc, name)
		}
	}
	if _, ok := CanaryByName("no-such"); ok {
		t.Error("CanaryByName found an unknown canary")
	}
}
