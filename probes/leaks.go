package probes

import (
	"cmp"
	"fmt"
	"slices"
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
// as goleak keys them: the function that created them and the function they
// wait in (lines left out: one loop parks at several).
func identity(g Goroutine) (created, parked string) {
	created = "(no creator)"
	if f := creatorFrame(g); f != nil {
		created = f.Func
	}
	return created, parkedFrame(g).Func
}

// creatorFrame is the frame to name as a goroutine's creator: its go
// statement's, except when that is a spawning helper (sync.WaitGroup.Go,
// errgroup.Group.Go) whose own closure is the goroutine's root frame —
// then the function the helper was given, the frame above that closure.
func creatorFrame(g Goroutine) *Frame {
	c := g.CreatedBy
	if c == nil || len(g.Stack) < 2 {
		return c
	}
	root := len(g.Stack) - 1
	if strings.HasPrefix(g.Stack[root].Func, c.Func+".func") {
		return &g.Stack[root-1]
	}
	return c
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
	if f, ok := WaitFrame(g.Stack); ok {
		return f
	}
	if len(g.Stack) > 0 {
		return g.Stack[0]
	}
	return Frame{Func: "(no stack)"}
}

// GoroutineSurplus returns the goroutines of now that leaked since base,
// grouped by kind, largest group first. A goroutine still alive (same id)
// is never a leak, wherever it waits now. A new goroutine is a leak unless
// one of base that ended was of the same kind (creator and parked
// function): that one replaced it. Counting alone misses a leak hidden by
// a goroutine that ended meanwhile; this does not.
func GoroutineSurplus(base, now []Goroutine) []LeakedGoroutine {
	type key struct{ created, parked string }
	alive := make(map[int64]bool, len(now))
	for _, g := range now {
		alive[g.ID] = true
	}
	ended := map[key]int{}
	old := make(map[int64]bool, len(base))
	for _, g := range base {
		old[g.ID] = true
		if !alive[g.ID] {
			c, p := identity(g)
			ended[key{c, p}]++
		}
	}
	groups := map[key]*LeakedGoroutine{}
	var order []key
	for _, g := range now {
		if old[g.ID] {
			continue
		}
		c, p := identity(g)
		k := key{c, p}
		if ended[k] > 0 {
			ended[k]--
			continue
		}
		if l := groups[k]; l != nil {
			l.Extra++
			continue
		}
		l := &LeakedGoroutine{CreatedBy: "(no creator)", ParkedAt: parkedFrame(g).Short(), State: g.State, Extra: 1, Example: g.ID}
		if f := creatorFrame(g); f != nil {
			l.CreatedBy = f.Short()
		}
		for _, f := range g.Stack {
			l.Stack = append(l.Stack, f.Short())
		}
		groups[k] = l
		order = append(order, k)
	}
	out := make([]LeakedGoroutine, 0, len(order))
	for _, k := range order {
		out = append(out, *groups[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Extra > out[j].Extra })
	return out
}

// LeakedFD is a descriptor target the server holds more of than at the
// baseline: a file's path, or the kind of an anonymous one ("socket",
// "pipe", "anon_inode:[eventpoll]").
type LeakedFD struct {
	Target string
	Extra  int
}

func (l LeakedFD) String() string { return fmt.Sprintf("+%d %s", l.Extra, l.Target) }

// FDSurplus compares descriptor targets (target → how many) after a
// scenario with the baseline's: the targets with more now, most first.
func FDSurplus(base, after map[string]int) []LeakedFD {
	var out []LeakedFD
	for t, n := range after {
		if extra := n - base[t]; extra > 0 {
			out = append(out, LeakedFD{Target: t, Extra: extra})
		}
	}
	slices.SortFunc(out, func(a, b LeakedFD) int {
		return cmp.Or(cmp.Compare(b.Extra, a.Extra), strings.Compare(a.Target, b.Target))
	})
	return out
}

// DropIdle returns copies of dumps without the goroutines that are where
// they were at the baseline: the same goroutine (id) with the same stack
// as when the server was idle is its machinery at rest — a transport's
// read loop between messages, a worker waiting for work — not a wait of
// the step, whatever its functions are called. The dumps are not changed.
func DropIdle(dumps []*GoroutineDump, base []Goroutine) []*GoroutineDump {
	if len(base) == 0 {
		return dumps
	}
	idle := make(map[int64]string, len(base))
	for _, g := range base {
		idle[g.ID] = stackKey(g.Stack)
	}
	out := make([]*GoroutineDump, 0, len(dumps))
	for _, d := range dumps {
		c := *d
		c.Goroutines = nil
		for _, g := range d.Goroutines {
			if k, ok := idle[g.ID]; ok && k == stackKey(g.Stack) {
				continue
			}
			c.Goroutines = append(c.Goroutines, g)
		}
		out = append(out, &c)
	}
	return out
}
