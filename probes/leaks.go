package probes

import (
	"fmt"
	"sort"
	"strings"
)

// LeakedGoroutine is a kind of goroutine the server has more of than at the
// baseline: same creator, parked at the same frame.
type LeakedGoroutine struct {
	CreatedBy string // "pkg.Func (file.go:line)" of the go statement
	ParkedAt  string // the first frame of the module's own code, else the leaf
	State     string // the wait reason of an example goroutine
	Extra     int    // how many more than at the baseline
	Example   int64  // an example goroutine's id
	Stack     []string
}

func (l LeakedGoroutine) String() string {
	return fmt.Sprintf("%d× created by %s, parked in %s [%s]", l.Extra, l.CreatedBy, l.ParkedAt, l.State)
}

// identity is what makes two goroutines the same kind for the leak check,
// as goleak keys them: where they were created and where they wait.
func identity(g Goroutine) (created, parked string) {
	created = "(no creator)"
	if g.CreatedBy != nil {
		created = g.CreatedBy.Short()
	}
	return created, parkedFrame(g).Short()
}

// parkedFrame is the first frame of a goroutine's stack outside the
// standard library (whose first path element has no dot), so that two
// goroutines waiting in sync.Cond.Wait for different owners differ; when
// the whole stack is the standard library, its first frame outside the
// runtime (net/http's connection loops, say); else the leaf.
func parkedFrame(g Goroutine) Frame {
	for _, f := range g.Stack {
		// "example.com/app/server.(*S).run": a module path; "sync.(*Cond).Wait"
		// and "net/http.(*conn).serve": the standard library.
		if first, _, ok := strings.Cut(f.Func, "/"); ok && strings.Contains(first, ".") {
			return f
		}
	}
	for _, f := range g.Stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "internal/") {
			return f
		}
	}
	if len(g.Stack) > 0 {
		return g.Stack[0]
	}
	return Frame{Func: "(no stack)"}
}

// GoroutineSurplus compares two sets of goroutines by identity (creator and
// parked frame), not by count: it returns every kind there are more of in
// now than in base, largest surplus first. A goroutine that leaked is found
// even when another one ended meanwhile.
func GoroutineSurplus(base, now []Goroutine) []LeakedGoroutine {
	type key struct{ created, parked string }
	count := map[key]int{}
	for _, g := range base {
		c, p := identity(g)
		count[key{c, p}]--
	}
	example := map[key]Goroutine{}
	for _, g := range now {
		c, p := identity(g)
		k := key{c, p}
		count[k]++
		if _, ok := example[k]; !ok {
			example[k] = g
		}
	}
	var out []LeakedGoroutine
	for k, n := range count {
		if n <= 0 {
			continue
		}
		g := example[k]
		l := LeakedGoroutine{CreatedBy: k.created, ParkedAt: k.parked, State: g.State, Extra: n, Example: g.ID}
		for _, f := range g.Stack {
			l.Stack = append(l.Stack, f.Short())
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Extra != out[j].Extra {
			return out[i].Extra > out[j].Extra
		}
		return out[i].CreatedBy+out[i].ParkedAt < out[j].CreatedBy+out[j].ParkedAt
	})
	return out
}
