package reports

import (
	"io"
	"testing"
)

// BenchmarkRender measures each format on the synthetic three-scenario run.
func BenchmarkRender(b *testing.B) {
	r := syntheticResult(b)
	if err := Summarize(r); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		rep  Reporter
	}{
		{"json", NewJSONReporter(r)},
		{"markdown", NewMarkdownReporter(r)},
		{"html", NewHTMLReporter(r)},
		{"junit", NewJUnitReporter(r)},
		{"hlog", func(w io.Writer) error { return WriteHlog(w, &r.Scenarios[0]) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.rep(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMergeLatencies(b *testing.B) {
	r := syntheticResult(b)
	var ls []*Latencies
	for _, p := range r.Scenarios[0].Phases {
		ls = append(ls, p.Ping)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MergeLatencies(ls...); err != nil {
			b.Fatal(err)
		}
	}
}
