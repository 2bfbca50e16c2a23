package reports

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestDownsampleKeepsStall(t *testing.T) {
	var samples []Sample
	for i := 0; i < 100000; i++ {
		v := 0.4
		if i == 54321 {
			v = 1500 // one stalled ping in 100k
		}
		samples = append(samples, Sample{TMS: float64(i) * 20, Value: v})
	}
	xa := axis{min: 0, max: 2000, p0: 64, p1: 1250}
	out := downsample(samples, xa, 4000)
	if len(out) > 4000 {
		t.Fatalf("%d points after downsampling, want at most 4000", len(out))
	}
	found := false
	for _, s := range out {
		if s.Value == 1500 {
			found = true
		}
	}
	if !found {
		t.Fatal("downsampling lost the single stall")
	}
}

func TestFaultWindowStillOpen(t *testing.T) {
	sc := &Scenario{Name: "open", DurationMS: 10000,
		Faults: []FaultWindow{{Name: "sink", StartMS: 4000, EndMS: -1}},
		Steps:  []Step{{Kind: "call", Tool: "consult", StartMS: 100, LatencyMS: 50, Outcome: OutcomeOK}},
	}
	svg := LatencyOverTimeSVG(sc)
	m := regexp.MustCompile(`<rect class="fault" x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no fault rectangle in\n%s", svg)
	}
	w, _ := strconv.ParseFloat(m[2], 64)
	if w < 500 {
		t.Fatalf("open fault window drawn %v px wide, want it to reach the end of the plot", w)
	}
}

func TestPlotsEmpty(t *testing.T) {
	sc := &Scenario{Name: "nothing"}
	for name, svg := range map[string]string{"latency": LatencyOverTimeSVG(sc), "percentiles": PercentileSVG(sc), "goroutines": GoroutinesSVG(sc)} {
		if svg != "" {
			t.Errorf("%s plot drawn without data", name)
		}
	}
	// Text inside plots is escaped.
	sc = &Scenario{Name: `<script>`, Steps: []Step{{Kind: "call", Name: `a<b>&"c"`, Tool: "t", LatencyMS: 1, Outcome: OutcomeOK}}}
	if svg := LatencyOverTimeSVG(sc); strings.Contains(svg, "<script>") || strings.Contains(svg, "<b>") {
		t.Fatalf("unescaped text in SVG:\n%s", svg)
	}
}

func TestNiceTicks(t *testing.T) {
	f := func(lo, hi float64, n int, want string) {
		t.Helper()
		var parts []string
		for _, v := range niceTicks(lo, hi, n) {
			parts = append(parts, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if got := strings.Join(parts, " "); got != want {
			t.Fatalf("niceTicks(%v, %v, %d) = %s; want %s", lo, hi, n, got, want)
		}
	}
	f(0, 48, 8, "0 10 20 30 40")
	f(0, 1.5, 5, "0 0.5 1 1.5")
	f(0, 40, 5, "0 10 20 30 40")
}
