package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
)

//go:embed report.html.tmpl
var htmlTemplateText string

// htmlTemplate is parsed once; templates are safe for concurrent Execute.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":         FormatMS,
	"value":      FormatValue,
	"checkLabel": CheckLabel,
	"diagLine":   DiagnosisLine,
	"verdict":    verdictWord,
	"failing":    failingCell,
	"stepName":   stepName,
	"seconds":    func(ms float64) string { return fmt.Sprintf("%.1fs", ms/1000) },
	"inc":        func(i int) int { return i + 1 },
	"anchor":     func(name string) string { return "sc-" + FileName(name) },
	"attempts":   AttemptLines,
	"rate":       rateText,
	"ratio":      ratioText,
}).Parse(htmlTemplateText))

// htmlScenario is a scenario with its plots rendered.
type htmlScenario struct {
	*Scenario
	LatencyPlot    template.HTML
	PercentilePlot template.HTML
	GoroutinePlot  template.HTML
	ToolNames      []string
	Failing        []Check
	Loads          []htmlLoad
}

type htmlPage struct {
	*Result
	Header      string
	Calibration string
	Outcome     []string // failed, could not run, invalid: one line each
	Advice      string   // what to do about invalid scenarios
	Counts      Counts
	Scenarios   []htmlScenario
}

// NewHTMLReporter renders report.html: one self-contained file (inline CSS
// and SVG, no script, a Content-Security-Policy that forbids every fetch) with
// per scenario the latency-over-time plot with fault windows shaded, the
// heartbeat percentile distribution, the goroutine count, the phases, tools
// and checks tables, the diagnosis with its culprit stacks and links to
// the pprof profiles saved beside it, and per open-model load its
// throughput, latency over time, per-tool table and capacity search.
func NewHTMLReporter(r *Result) Reporter {
	return func(w io.Writer) error {
		page := htmlPage{Result: r, Header: runHeader(r, ""), Counts: CountVerdicts(r),
			Calibration: CalibrationLine(r), Outcome: OutcomeLines(r), Advice: InvalidAdvice(r)}
		for i := range r.Scenarios {
			sc := &r.Scenarios[i]
			hs := htmlScenario{
				Scenario: sc,
				// The SVG builders escape every text they embed.
				LatencyPlot:    template.HTML(LatencyOverTimeSVG(sc)),
				PercentilePlot: template.HTML(PercentileSVG(sc)),
				GoroutinePlot:  template.HTML(GoroutinesSVG(sc)),
				Failing:        FailingChecks(sc),
				Loads:          htmlLoads(sc),
			}
			for name := range sc.Tools {
				hs.ToolNames = append(hs.ToolNames, name)
			}
			sort.Strings(hs.ToolNames)
			page.Scenarios = append(page.Scenarios, hs)
		}
		ew := newErrWriter(w)
		if err := htmlTemplate.Execute(ew.bw, page); err != nil {
			return fmt.Errorf("cannot render HTML report: %w", err)
		}
		if err := ew.flush(); err != nil {
			return fmt.Errorf("cannot write HTML report: %w", err)
		}
		return nil
	}
}
