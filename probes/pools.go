package probes

// Pools are found by what their goroutines do, not by what they are
// called. A pool's worker is a long-lived goroutine seen, at one time,
// waiting to receive work — on a channel or in a select, serving no
// request (at the baseline, or in any dump of the run) — and, at another,
// serving a request (its pprof labels say path=request). Its siblings are
// the receivers started by the same go statement into the same function.
// A pool is exhausted in a dump when all of them serve requests at once;
// a request-path goroutine waiting to send then waits for a worker. (The
// baseline alone is not enough: it may catch a worker of a busy server
// mid-job, serving the heartbeat's own calls.)
type pools struct {
	group map[int64]string // receivers by goroutine id → creator and root function
	size  map[string]int   // group → how many members
}

// findPools indexes the goroutines seen idle-receiving in the baseline
// and in dumps; none gives an index that finds no pool.
func findPools(base []Goroutine, dumps []*GoroutineDump) *pools {
	p := &pools{group: map[int64]string{}, size: map[string]int{}}
	add := func(gs []Goroutine) {
		for _, g := range gs {
			if !idleReceiver(g) {
				continue
			}
			if _, seen := p.group[g.ID]; seen {
				continue
			}
			group := g.Stack[len(g.Stack)-1].Func
			if g.CreatedBy != nil {
				group = g.CreatedBy.Short() + " → " + group
			}
			p.group[g.ID] = group
			p.size[group]++
		}
	}
	add(base)
	for _, d := range dumps {
		add(d.Goroutines)
	}
	return p
}

// idleReceiver: parked receiving (a channel, a select), on no request.
func idleReceiver(g Goroutine) bool {
	switch baseState(g.State) {
	case "chan receive", "select":
	default:
		return false
	}
	return len(g.Stack) > 0 && g.Labels[LabelPath] != string(PathRequest)
}

// busyWorkers returns the goroutines of gs that are workers of an
// exhausted pool: every member of their group is in gs serving a request.
func (p *pools) busyWorkers(gs []Goroutine, idx *PathIndex) []Goroutine {
	if p == nil || len(p.group) == 0 {
		return nil
	}
	busy := map[string][]Goroutine{}
	for _, g := range gs {
		group, ok := p.group[g.ID]
		if !ok || !servesRequest(g, idx) {
			continue
		}
		busy[group] = append(busy[group], g)
	}
	var out []Goroutine
	for group, ws := range busy {
		if len(ws) == p.size[group] {
			out = append(out, ws...)
		}
	}
	return out
}

// servesRequest: the goroutine is on the request path by its labels, the
// run's labelled goroutines or a library's dispatch — not merely by being
// the server's code (an unlabelled writer or loop of the server is not
// request work).
func servesRequest(g Goroutine, idx *PathIndex) bool {
	if g.Labels[LabelPath] == string(PathRequest) {
		return matchMarker(g.Stack, plumbingMarkers) == nil
	}
	p, component := classifyPath(g.Labels, g.Stack, idx, "", nil)
	return p == PathRequest && component != "server"
}
