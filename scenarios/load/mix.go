package load

import (
	"fmt"
	"sort"
)

// Entry is one kind of call in a mix, drawn Weight times in every
// sum-of-weights arrivals on average.
type Entry struct {
	Name   string
	Weight int
}

// Mix draws an entry for each arrival. The draw is a function of the
// arrival's index and the seed only, so a replay with the same seed sends
// the same sequence, whatever the timing.
type Mix struct {
	entries []Entry
	cum     []uint64 // cumulative weights
	seed    uint64
}

// NewMix checks the entries: at least one, unique non-empty names,
// weights ≥ 1.
func NewMix(entries []Entry, seed uint64) (*Mix, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("empty mix: want at least one call")
	}
	m := &Mix{entries: append([]Entry(nil), entries...), seed: seed}
	seen := map[string]bool{}
	var total uint64
	for i, e := range entries {
		switch {
		case e.Name == "":
			return nil, fmt.Errorf("mix entry %d: no name", i+1)
		case seen[e.Name]:
			return nil, fmt.Errorf("mix entry %d: name %q used twice", i+1, e.Name)
		case e.Weight < 1:
			return nil, fmt.Errorf("mix entry %d (%s): weight %d: must be ≥ 1", i+1, e.Name, e.Weight)
		}
		seen[e.Name] = true
		total += uint64(e.Weight)
		m.cum = append(m.cum, total)
	}
	return m, nil
}

// Entries returns the mix's entries in order.
func (m *Mix) Entries() []Entry { return m.entries }

// Pick returns the index of the entry arrival k draws.
func (m *Mix) Pick(k uint64) int {
	if len(m.cum) == 1 {
		return 0
	}
	v := splitmix64(m.seed+k) % m.cum[len(m.cum)-1]
	return sort.Search(len(m.cum), func(i int) bool { return m.cum[i] > v })
}

// splitmix64 is a bijective mixer: consecutive inputs give independent
// looking outputs.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
