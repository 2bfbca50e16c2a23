// Package reports aggregates the harness's measurements and renders them:
// result.json (the versioned schema in result.go), summary.md, report.html,
// junit.xml and HdrHistogram .hlog files, plus run-to-run diffs.
//
// # Aggregation
//
// Latencies are recorded in nanoseconds into hdrhistogram-go histograms
// ([NewHistogram], [Record]) and summarised as millisecond percentiles by
// [NewLatencies], which also keeps the V2-compressed, base64 histogram in
// Latencies.Hist. Because the histogram travels with the numbers, repeats,
// phases and tools can be merged exactly later ([MergeLatencies]) and
// plotted as a percentile distribution. [StepLatencies] and
// [ToolLatencies] build the same from the runner's steps, counting errors
// (error, timeout) and cancelled calls apart. [Summarize] fills whatever a
// producer left empty (per-tool and per-phase call latencies, the scenario
// heartbeat merged from its phases, verdicts) and never overwrites.
//
// # Rendering
//
// Each format is a [Reporter], a func(io.Writer) error that returns every
// write error: [NewJSONReporter], [NewMarkdownReporter], [NewHTMLReporter],
// [NewJUnitReporter]; [WriteHlog] and [WriteHgrm] write one scenario's
// histograms. [WriteAll] writes them all into a directory. Rendering is
// deterministic (no clock, no map order, fixed float formats), so the golden
// files in testdata/ pin it; `go test ./reports -update` rewrites them and
// the README screenshot.
//
// A scenario's open-model loads ([Load]) render as their own sections:
// a summary line ([LoadSummaryLine], [LoadLine] in summary.md), per-tool
// tables, throughput and latency over time, and for a capacity search the
// latency against the offered rate ([LoadCapacitySVG], [CapacityLine]);
// their per-tool histograms join the scenario's .hlog, tagged
// load.<load>.<name> (corrected) and load.<load>.<name>.raw (service).
//
// report.html is one self-contained file: inline CSS and hand-drawn SVG, no
// script, and a Content-Security-Policy that forbids every fetch. A test
// loads it in headless chromium and fails on any console error or request.
//
// # Diffs
//
// [Compare] matches two runs scenario by scenario and check by check and
// flags regressions beyond a relative tolerance and an absolute noise floor
// (and a load's capacity that drops beyond the tolerance);
// [NewDiffReporter] prints the table `secondbrain report diff` shows.
//
// # Concurrency
//
// The package starts no goroutines. Reporters only read the Result; do not
// change it while one runs. Summarize and WriteAll modify the Result they
// are given (filling aggregates), so call them from the goroutine that owns it.
package reports
