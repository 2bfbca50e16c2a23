package reports

import (
	"bytes"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

func TestLoadHTML(t *testing.T) {
	t.Parallel()
	r := summarized(t)
	out := string(render(t, NewHTMLReporter(r)))
	sc := &r.Scenarios[3]
	steady, search := &sc.Loads[0], &sc.Loads[1]
	for _, want := range []string{
		`<h3 id="load-many-hosts-steady">Load steady</h3>`,
		`<h3 id="load-many-hosts-find-limit">Load find-limit</h3>`,
		html.EscapeString(LoadSummaryLine(steady)),
		html.EscapeString(CapacityLine(search.Capacity)),
		`aria-label="throughput over time, load steady, scenario many-hosts"`,
		`aria-label="latency over time, load steady, scenario many-hosts"`,
		`aria-label="throughput over time, load find-limit, scenario many-hosts"`,
		`aria-label="latency vs offered load, load find-limit, scenario many-hosts"`,
		"errors/s", "dropped/s", // find-limit dropped and failed calls
		`class="trial pass"`, `class="trial fail"`, `<line class="capacity"`, `<line class="limit"`,
		"capacity " + rateText(search.Capacity.Rate),
		// Error classes carry their first message as a tooltip.
		`<span title="internal error: vector store &#34;ctx-7&#34; busy">rpc:-32603 `,
		`<span title="no answer within 5s">timeout `,
		"9 capacity trials",
		`href="hlog/many-hosts.hlog"`,
		"service p99",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// The steady load had no drops: its throughput plot says nothing of them.
	if svg := LoadThroughputSVG(sc, steady); strings.Contains(svg, "dropped/s") {
		t.Error("throughput plot of a load without drops shows a dropped line")
	}
	if svg := LoadCapacitySVG(sc, steady); svg != "" {
		t.Error("capacity plot drawn for a load without a capacity search")
	}
}

func TestLoadSVGEmptyAndEscaped(t *testing.T) {
	t.Parallel()
	sc := &Scenario{Name: "s"}
	l := &Load{Name: "empty"}
	for name, svg := range map[string]string{"throughput": LoadThroughputSVG(sc, l), "latency": LoadLatencySVG(sc, l), "capacity": LoadCapacitySVG(sc, l)} {
		if svg != "" {
			t.Errorf("%s plot drawn without data", name)
		}
	}
	// A series without a recorded window width takes it from its windows;
	// a window that answered nothing breaks the latency lines.
	l = &Load{Name: `<b>`, Series: []LoadSample{
		{TMS: 0, Offered: 10, Completed: 10, P50MS: 1, P99MS: 2, MaxMS: 3},
		{TMS: 500, Offered: 10},
		{TMS: 1000, Offered: 10, Completed: 20, P50MS: 1, P99MS: 2, MaxMS: 3},
	}}
	lat := LoadLatencySVG(sc, l)
	if got := strings.Count(lat, "<polyline"); got != 6 {
		t.Errorf("latency plot has %d polylines, want 6 (3 lines broken by one empty window)", got)
	}
	thr := LoadThroughputSVG(sc, l)
	if !strings.Contains(thr, ">40<") { // 20 calls in 500 ms
		t.Errorf("throughput plot does not reach 40 calls/s:\n%s", thr)
	}
	for _, svg := range []string{lat, thr} {
		if strings.Contains(svg, "<b>") {
			t.Fatalf("unescaped load name in SVG:\n%s", svg)
		}
	}
}

func TestCapacityLine(t *testing.T) {
	t.Parallel()
	f := func(c *Capacity, want string) {
		t.Helper()
		if got := CapacityLine(c); got != want {
			t.Fatalf("unexpected capacity line;\ngot:  %s\nwant: %s", got, want)
		}
	}
	f(nil, "")
	f(&Capacity{Rate: 840, P50MS: 3.1, P99MS: 41, Limit: "p99 412 ms > 250 ms at 880/s", Bound: "resolution 5 %"},
		"capacity: 840 calls/s (p50 3.10 ms, p99 41.0 ms); above it: p99 412 ms > 250 ms at 880/s; search stopped: resolution 5 %")
	f(&Capacity{Rate: 4000, P50MS: 2, P99MS: 9, Bound: "reached max rate"},
		"capacity: 4000 calls/s (p50 2.00 ms, p99 9.00 ms); above it: no trial failed up to the search's maximum; search stopped: reached max rate")
	f(&Capacity{Limit: "errors 5 % > 1 % at 50/s"},
		"capacity: none, no trial held the limits; at the lowest rate: errors 5 % > 1 % at 50/s")
}

func TestLoadLine(t *testing.T) {
	t.Parallel()
	f := func(l Load, want string) {
		t.Helper()
		if got := LoadLine(&l); got != want {
			t.Fatalf("unexpected load line;\ngot:  %s\nwant: %s", got, want)
		}
	}
	tool := func(p99 float64) LoadTool {
		return LoadTool{Name: "consult", Latency: &Latencies{Count: 1000, P99: p99}}
	}
	f(Load{Name: "steady", OfferedRate: 200, AchievedRate: 199.83, Tools: []LoadTool{tool(12.3)}},
		"load steady: offered 200/s, achieved 199.8/s, p99 12.3 ms, errors 0, dropped 0")
	// Without histograms the worst tool's p99 stands for the load.
	f(Load{Step: 3, OfferedRate: 1000, AchievedRate: 990, Errors: 4, Dropped: 7, Tools: []LoadTool{tool(12.3), tool(30)},
		Capacity: &Capacity{Rate: 840, P99MS: 41}, Invalid: "send lag p99 12 ms"},
		"load step3: offered 1000/s, achieved 990/s, p99 30.0 ms, errors 4, dropped 7; capacity 840/s (p99 41.0 ms); invalid: send lag p99 12 ms")
}

// loadOnlyScenario is a scenario with one load and no heartbeat at all.
func loadOnlyScenario(t *testing.T) *Scenario {
	t.Helper()
	return &Scenario{Name: "load only", Loads: []Load{{
		Name: "mix", StartMS: 2000, DurationMS: 10000,
		Tools: []LoadTool{
			{Name: "consult", Tool: "consult", Latency: latenciesMS(t, 1, 2, 3), Service: latenciesMS(t, 1, 2)},
			{Name: "consult+context", Tool: "consult", Latency: latenciesMS(t, 5, 6, 7, 8)}, // no service histogram
		},
	}}}
}

func TestHlogLoads(t *testing.T) {
	t.Parallel()
	sc := loadOnlyScenario(t)
	if !hasHistograms(sc) {
		t.Fatal("a scenario with only a load has no histograms to log")
	}
	var buf bytes.Buffer
	if err := WriteHlog(&buf, sc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Tag=load.<load>.<name>") || !strings.Contains(buf.String(), "load mix consult+context (tool consult) corrected") {
		t.Fatalf("header does not describe the load tags:\n%s", buf.String())
	}
	rd := hdrhistogram.NewHistogramLogReader(&buf)
	counts := map[string]int64{}
	for {
		h, err := rd.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		counts[h.Tag()] = h.TotalCount()
		if h.StartTimeMs() != 2000 || h.EndTimeMs() != 12000 {
			t.Errorf("%s spans %d–%d ms, want the load's 2000–12000", h.Tag(), h.StartTimeMs(), h.EndTimeMs())
		}
	}
	want := map[string]int64{"load.mix.consult": 3, "load.mix.consult.raw": 2, "load.mix.consult+context": 4}
	if len(counts) != len(want) {
		t.Fatalf("intervals %v, want %v", counts, want)
	}
	for tag, n := range want {
		if counts[tag] != n {
			t.Errorf("tag %s: %d values, want %d", tag, counts[tag], n)
		}
	}
}

func TestWriteAllLoadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := &Result{Scenarios: []Scenario{*loadOnlyScenario(t)}}
	if err := WriteAll(dir, r); err != nil {
		t.Fatal(err)
	}
	if got := r.Scenarios[0].Loads[0].HistFile; got != "hlog/load_only.hlog" {
		t.Fatalf("Load.HistFile = %q, want hlog/load_only.hlog", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "hlog", "load_only.hlog")); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "- load only: load mix: offered 0/s, achieved 0/s, p99 ") {
		t.Fatalf("summary.md lacks the load line:\n%s", md)
	}
}
