package load

import (
	"math"
	"testing"
)

func TestMix_PickFollowsWeights(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"one", []Entry{{"a", 3}}},
		{"even", []Entry{{"a", 1}, {"b", 1}}},
		{"skewed", []Entry{{"a", 8}, {"b", 1}, {"c", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMix(tt.entries, 42)
			if err != nil {
				t.Fatal(err)
			}
			const n = 100000
			counts := make([]int, len(tt.entries))
			for k := range uint64(n) {
				counts[m.Pick(k)]++
			}
			total := 0
			for _, e := range tt.entries {
				total += e.Weight
			}
			for i, e := range tt.entries {
				want := float64(n) * float64(e.Weight) / float64(total)
				if math.Abs(float64(counts[i])-want) > 0.02*n {
					t.Errorf("%s drawn %d times, want about %.0f", e.Name, counts[i], want)
				}
			}
			m2, _ := NewMix(tt.entries, 42)
			for k := range uint64(1000) {
				if m.Pick(k) != m2.Pick(k) {
					t.Fatalf("arrival %d: draws differ for one seed", k)
				}
			}
		})
	}
}

func TestNewMix_Refuses(t *testing.T) {
	for _, entries := range [][]Entry{nil, {{"", 1}}, {{"a", 0}}, {{"a", 1}, {"a", 2}}} {
		if _, err := NewMix(entries, 1); err == nil {
			t.Errorf("NewMix(%v) accepted", entries)
		}
	}
}
