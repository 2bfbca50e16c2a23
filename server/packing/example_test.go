package packing_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/secondbrain-dev/secondbrain/server/packing"
)

// A project with a .gitignore, a dependency directory, an image and one
// file too big for the budget; then a second call in the same session.
func ExamplePack() {
	dir, _ := os.MkdirTemp("", "packing-example")
	defer os.RemoveAll(dir)
	project := filepath.Join(dir, "project")
	for name, content := range map[string]string{
		".gitignore":             "*.log\n",
		"main.go":                "package main\n\nfunc main() {}\n",
		"util.go":                "package main\n",
		"big.md":                 strings.Repeat("A long design document. ", 400),
		"debug.log":              "noise\n",
		"logo.png":               "\x89PNG",
		"node_modules/x/x.js":    "module.exports = 1\n",
		"docs/notes/overview.md": "# Overview\n",
	} {
		p := filepath.Join(project, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}

	opt := packing.Options{Roots: []string{project}, BudgetTokens: 100}
	res, err := packing.Pack(context.Background(), []string{"."}, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range res.Inline {
		fmt.Println("inline:", f.Rel)
	}
	for _, f := range res.Overflow {
		fmt.Println("attached:", f.Rel)
	}
	for _, s := range res.Skipped {
		rel, _ := filepath.Rel(project, s.Path)
		fmt.Printf("skipped: %s (%s)\n", rel, s.Reason)
	}
	fmt.Print(res.Tree)
	fmt.Print(packing.FormatInline(res.Inline[:1]))

	// Same session, nothing changed, one new file: nothing is resent and
	// the new file is attached, so the model's view stays consistent.
	os.WriteFile(filepath.Join(project, "new.go"), []byte("package main\n"), 0o644)
	opt.Previous = res.Stamps(nil)
	again, _ := packing.Pack(context.Background(), []string{"."}, opt)
	fmt.Println("second call:", len(again.Inline), "resent,", len(again.Unchanged), "unchanged, attached", again.Overflow[0].Rel)

	// Output:
	// inline: .gitignore
	// inline: docs/notes/overview.md
	// inline: util.go
	// inline: main.go
	// attached: big.md
	// skipped: debug.log (ignored by .gitignore: *.log)
	// skipped: logo.png (binary file (extension .png))
	// skipped: node_modules (built-in skip list: node_modules/)
	// project/
	//   .gitignore [inline]
	//   big.md [attached]
	//   debug.log [skipped: ignored by .gitignore: *.log]
	//   docs/notes/
	//     overview.md [inline]
	//   logo.png [skipped: binary file (extension .png)]
	//   main.go [inline]
	//   node_modules/ [skipped: built-in skip list: node_modules/]
	//   util.go [inline]
	// <file path=".gitignore">
	// *.log
	// </file>
	// second call: 0 resent, 4 unchanged, attached new.go
}
