package reports

import "fmt"

// hlogLoadLegend describes the load tags in a .hlog's header comment.
const hlogLoadLegend = "Tag=load.<load>.<name> = an open-model load's calls of one mix entry, " +
	"corrected (from each call's intended send time), Tag=load.<load>.<name>.raw = their service time (from the write)"

// HlogLoadTag is the tag of a load tool's interval histogram in a
// scenario's .hlog: "load.<load>.<name>", plus ".raw" for the service
// time (raw) rather than the corrected latency.
func HlogLoadTag(l *Load, t *LoadTool, raw bool) string {
	tag := "load." + loadName(l) + "." + t.Name
	if raw {
		tag += ".raw"
	}
	return hlogTag(tag)
}

// loadIntervals lists the load histograms of a scenario's .hlog: per load
// and mix entry, the corrected latency and the raw service time, each one
// interval spanning the whole load. Interval logs are read per tag, so
// keeping both apart lets a reader see how much of the tail is the
// schedule's (coordinated omission) and how much the server's.
func loadIntervals(sc *Scenario) []hlogInterval {
	var out []hlogInterval
	for i := range sc.Loads {
		l := &sc.Loads[i]
		start, end := l.StartMS, l.StartMS+l.DurationMS
		for j := range l.Tools {
			t := &l.Tools[j]
			for _, v := range []struct {
				raw  bool
				lat  *Latencies
				what string
			}{{false, t.Latency, "corrected"}, {true, t.Service, "raw service time"}} {
				if !hasHist(v.lat) {
					continue
				}
				out = append(out, hlogInterval{
					tag: HlogLoadTag(l, t, v.raw), startMS: start, endMS: end, lat: v.lat,
					desc: fmt.Sprintf("load %s %s (tool %s) %s", loadName(l), t.Name, t.Tool, v.what),
				})
			}
		}
	}
	return out
}

// fillLoadHistFiles points each load that has histograms at the
// scenario's .hlog, where WriteAll writes them; set paths stay.
func fillLoadHistFiles(sc *Scenario) {
	for i := range sc.Loads {
		l := &sc.Loads[i]
		if l.HistFile != "" {
			continue
		}
		for _, t := range l.Tools {
			if hasHist(t.Latency) || hasHist(t.Service) {
				l.HistFile = HlogPath(sc.Name)
				break
			}
		}
	}
}

// hasHist reports whether l carries a histogram worth logging.
func hasHist(l *Latencies) bool { return l != nil && l.Count > 0 && l.Hist != "" }
