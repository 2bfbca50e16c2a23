package packing

import (
	"path/filepath"
	"slices"
	"strings"
)

// treeNode is one file or directory in the rendered tree.
type treeNode struct {
	name string
	dir  bool
	mark string
	kids map[string]*treeNode
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

// tree renders every considered file and skipped entry under its root: the
// first root by its base name, other roots by their absolute paths.
func (c *collector) tree(sel *selection) string {
	top := &treeNode{dir: true}
	add := func(rel string, dir bool, mark string) {
		parts := strings.Split(rel, "/")
		if strings.HasPrefix(rel, "/") { // a file under another root
			parts = strings.Split(rel[1:], "/")
			parts[0] = "/" + parts[0]
		} else {
			parts = append([]string{filepath.Base(c.roots[0].lex)}, parts...)
		}
		n := top
		for i, p := range parts {
			last := i == len(parts)-1
			n = n.child(p, dir || !last)
		}
		n.mark = mark
	}
	marks := map[status]string{stInline: "[inline]", stUnchanged: "[unchanged]", stOverflow: "[attached]"}
	for f, st := range sel.statusOf {
		add(f.Rel, false, marks[st])
	}
	for _, s := range c.skipped {
		if s.rel == "" || s.rel == "." {
			continue
		}
		add(s.rel, s.dir, "[skipped: "+s.Reason+"]")
	}
	var b strings.Builder
	writeTree(&b, top, -1)
	return b.String()
}

// writeTree prints n's children sorted by name, indenting two spaces per
// level; a chain of unmarked single-child directories prints on one line.
func writeTree(b *strings.Builder, n *treeNode, depth int) {
	names := make([]string, 0, len(n.kids))
	for name := range n.kids {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		k := n.kids[name]
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
		b.WriteString(strings.Repeat("  ", depth+1))
		b.WriteString(label)
		if k.dir {
			b.WriteString("/")
		}
		if k.mark != "" {
			b.WriteString(" ")
			b.WriteString(k.mark)
		}
		b.WriteString("\n")
		if k.dir {
			writeTree(b, k, depth+1)
		}
	}
}
