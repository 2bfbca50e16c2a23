package probes

// Pools are found by what their goroutines do, not by what they are
// called. A pool's worker is a goroutine that waited to receive work — on
// a channel or in a select — while the server was idle (the baseline
// dump), and that a later dump finds serving a request: on the request
// path, with another stack. Its siblings are the baseline receivers
// started by the same go statement into the same function. A pool is
// exhausted in a dump when all of them serve requests at once; a
// request-path goroutine waiting to send then waits for a worker.
type pools struct {
	members map[int64]poolMember // baseline receivers by goroutine id
	size    map[string]int       // group → how many members
}

type poolMember struct {
	group string // creator and root function
	idle  string // stack key at the baseline
}

// findPools indexes the baseline's receivers; nil base gives an index
// that finds no pool.
func findPools(base []Goroutine) *pools {
	p := &pools{members: map[int64]poolMember{}, size: map[string]int{}}
	for _, g := range base {
		switch baseState(g.State) {
		case "chan receive", "select":
		default:
			continue
		}
		if len(g.Stack) == 0 {
			continue
		}
		group := g.Stack[len(g.Stack)-1].Func
		if g.CreatedBy != nil {
			group = g.CreatedBy.Short() + " → " + group
		}
		p.members[g.ID] = poolMember{group: group, idle: stackKey(g.Stack)}
		p.size[group]++
	}
	return p
}

// busyWorkers returns the goroutines of gs that are workers of an
// exhausted pool: every member of their group is in gs serving a request.
func (p *pools) busyWorkers(gs []Goroutine, idx *PathIndex) []Goroutine {
	if p == nil || len(p.members) == 0 {
		return nil
	}
	busy := map[string][]Goroutine{}
	for _, g := range gs {
		m, ok := p.members[g.ID]
		if !ok || stackKey(g.Stack) == m.idle || !servesRequest(g, idx) {
			continue
		}
		busy[m.group] = append(busy[m.group], g)
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
