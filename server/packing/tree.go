package packing

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Tree detail levels, from most to least detailed. Higher levels are used
// only when the tree would exceed its token cap (see Options.TreeMaxTokens).
const (
	// TreeFull lists every file and skipped entry with its mark.
	TreeFull = iota
	// TreeSummarized lists inline and unchanged files and skipped
	// directories; each directory's other files become one count line.
	TreeSummarized
	// TreeCollapsed also prints a directory holding no inline or unchanged
	// file as a single line with counts.
	TreeCollapsed
)

// fileKind is how a file ended up, for marks and counts.
type fileKind int

const (
	kindInline fileKind = iota
	kindUnchanged
	kindAttached
	kindSkipped
	numKinds
)

// treeNode is one file or directory in the rendered tree.
type treeNode struct {
	name   string
	dir    bool
	mark   string // for files and skipped directories
	kind   fileKind
	kids   map[string]*treeNode
	counts [numKinds]int // files below a directory, by kind (skipped dirs count as skipped)
}

func (n *treeNode) child(name string, dir bool) *treeNode {
	if n.kids == nil {
		n.kids = make(map[string]*treeNode)
	}
	k, ok := n.kids[name]
	if !ok {
		k = &treeNode{name: name, dir: dir}
		n.kids[name] = k
	}
	k.dir = k.dir || dir
	return k
}

// tree renders every considered file and skipped entry under its root (the
// first root by its base name, other roots by their absolute paths) at the
// most detailed level whose estimate fits maxTokens (< 0: no cap).
func (c *collector) tree(sel *selection, maxTokens int) (string, int) {
	top := &treeNode{dir: true}
	add := func(rel string, dir bool, kind fileKind, mark string) {
		parts := strings.Split(rel, "/")
		if strings.HasPrefix(rel, "/") { // a file under another root
			parts = strings.Split(rel[1:], "/")
			parts[0] = "/" + parts[0]
		} else {
			parts = append([]string{filepath.Base(c.roots[0].lex)}, parts...)
		}
		n := top
		for i, p := range parts {
			n.counts[kind]++
			n = n.child(p, dir || i < len(parts)-1)
		}
		n.mark, n.kind = mark, kind
		n.counts[kind]++
	}
	kinds := map[status]fileKind{stInline: kindInline, stUnchanged: kindUnchanged, stOverflow: kindAttached}
	marks := [numKinds]string{"[inline]", "[unchanged]", "[attached]"}
	for f, st := range sel.statusOf {
		add(f.Rel, false, kinds[st], marks[kinds[st]])
	}
	for _, s := range c.skipped {
		if s.rel == "" || s.rel == "." {
			continue
		}
		add(s.rel, s.dir, kindSkipped, "[skipped: "+s.Reason+"]")
	}
	var out string
	for level := TreeFull; level <= TreeCollapsed; level++ {
		var b strings.Builder
		writeTree(&b, top, -1, level)
		out = b.String()
		if maxTokens < 0 || EstimateTokens(int64(len(out)), []byte(out)) <= maxTokens {
			return out, level
		}
	}
	return out, TreeCollapsed
}

// writeTree prints n's children sorted by name, indenting two spaces per
// level; a chain of unmarked single-child directories prints on one line.
func writeTree(b *strings.Builder, n *treeNode, depth, level int) {
	names := make([]string, 0, len(n.kids))
	for name := range n.kids {
		names = append(names, name)
	}
	slices.Sort(names)
	indent := strings.Repeat("  ", depth+1)
	var hidden [numKinds]int
	for _, name := range names {
		k := n.kids[name]
		if !k.dir && level >= TreeSummarized && (k.kind == kindAttached || k.kind == kindSkipped) {
			hidden[k.kind]++
			continue
		}
		label := k.name
		for k.dir && k.mark == "" && len(k.kids) == 1 {
			var only *treeNode
			for _, v := range k.kids {
				only = v
			}
			if !only.dir {
				break
			}
			label += "/" + only.name
			k = only
		}
		b.WriteString(indent)
		b.WriteString(label)
		if k.dir {
			b.WriteString("/")
		}
		switch {
		case k.mark != "":
			b.WriteString(" ")
			b.WriteString(k.mark)
		case k.dir && level >= TreeCollapsed && k.counts[kindInline]+k.counts[kindUnchanged] == 0:
			b.WriteString(" [" + countText(k.counts) + "]\n")
			continue
		}
		b.WriteString("\n")
		if k.dir && k.mark == "" {
			writeTree(b, k, depth+1, level)
		}
	}
	if hidden[kindAttached]+hidden[kindSkipped] > 0 {
		fmt.Fprintf(b, "%s… %s\n", indent, countText(hidden))
	}
}

// countText summarises file counts: "12 attached, 3 skipped".
func countText(counts [numKinds]int) string {
	var parts []string
	for k, name := range [numKinds]string{"inline", "unchanged", "attached", "skipped"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], name))
		}
	}
	return strings.Join(parts, ", ")
}
