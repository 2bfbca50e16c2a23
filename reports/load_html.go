package reports

import "html/template"

// htmlLoad is a load with its text and plots rendered for report.html.
type htmlLoad struct {
	*Load
	// Anchor is the section's id ("load-<scenario>-<load>"), for links.
	Anchor       string
	Title        string
	Summary      string
	CapacityLine string
	Limits       string
	Tools        []htmlLoadTool
	// The SVG builders escape every text they embed.
	ThroughputPlot, LatencyPlot, CapacityPlot template.HTML
}

// htmlLoadTool is one entry of a load's mix with its errors in order.
type htmlLoadTool struct {
	*LoadTool
	ErrorList []LoadError
}

// htmlLoads renders the loads of a scenario, in order.
func htmlLoads(sc *Scenario) []htmlLoad {
	out := make([]htmlLoad, 0, len(sc.Loads))
	for i := range sc.Loads {
		l := &sc.Loads[i]
		hl := htmlLoad{
			Load:           l,
			Anchor:         "load-" + FileName(sc.Name) + "-" + FileName(loadName(l)),
			Title:          loadName(l),
			Summary:        LoadSummaryLine(l),
			CapacityLine:   CapacityLine(l.Capacity),
			ThroughputPlot: template.HTML(LoadThroughputSVG(sc, l)),
			LatencyPlot:    template.HTML(LoadLatencySVG(sc, l)),
			CapacityPlot:   template.HTML(LoadCapacitySVG(sc, l)),
		}
		if l.Capacity != nil {
			hl.Limits = CapacityLimitsText(l.Capacity.Limits)
		}
		for j := range l.Tools {
			t := &l.Tools[j]
			hl.Tools = append(hl.Tools, htmlLoadTool{LoadTool: t, ErrorList: LoadErrors(t)})
		}
		out = append(out, hl)
	}
	return out
}
