package packing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// mkTree creates files (path → content) under a fresh temp dir and returns
// the dir with symlinks resolved. A content starting with "->" makes a
// symlink to the rest.
func mkTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func rels(fs []File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Rel
	}
	return out
}

// skippedRel maps root-relative skipped paths to their reasons.
func skippedRel(t *testing.T, root string, ss []Skipped) map[string]string {
	t.Helper()
	out := make(map[string]string, len(ss))
	for _, s := range ss {
		r, err := filepath.Rel(root, s.Path)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.ToSlash(r)] = s.Reason
	}
	return out
}

// TestPack_walk covers what is packed and what is skipped, with the reason.
func TestPack_walk(t *testing.T) {
	t.Parallel()
	latin1 := "caf\xe9 na\xefve " + strings.Repeat("plain ascii text ", 20)
	straddle := strings.Repeat("a", sniffLen-1) + "日本語" + "tail" // a rune cut by the 8 KiB sniff
	cases := []struct {
		name        string
		files       map[string]string
		paths       []string
		opt         Options
		wantPacked  []string          // sorted rels of Inline+Overflow
		wantSkipped map[string]string // rel → substring of the reason
	}{
		{
			name: "nested gitignore, negation, info/exclude",
			files: map[string]string{
				".gitignore":                 "# comment\n*.log\n!keep.log\n/secret.txt\ntmp/\n",
				".git/info/exclude":          "excluded.txt\n",
				".git/HEAD":                  "ref: refs/heads/main\n",
				"a.go":                       "package a\n",
				"debug.log":                  "noise\n",
				"keep.log":                   "kept\n",
				"secret.txt":                 "s\n",
				"excluded.txt":               "e\n",
				"sub/secret.txt":             "anchored pattern only matches at the root\n",
				"tmp/x.go":                   "package tmp\n",
				"sub/.gitignore":             "*.go\n!main.go\n",
				"sub/x.go":                   "package sub\n",
				"sub/main.go":                "package main\n",
				"sub/deep/y.go":              "package deep\n",
				"sub/deep/z.go":              "package deep\n",
				"sub/deep/.gitignore":        "!y.go\r\n",
				"sub/deep/notes.log":         "log\n",
				"other/tmp":                  "a file named tmp is not a directory\n",
				"other/nested/.gitignore":    "/only-here.txt\n",
				"other/nested/only-here.txt": "x\n",
				"other/only-here.txt":        "y\n",
			},
			paths: []string{"."},
			wantPacked: []string{
				".gitignore", "a.go", "keep.log", "other/nested/.gitignore", "other/only-here.txt", "other/tmp",
				"sub/.gitignore", "sub/deep/.gitignore", "sub/deep/y.go", "sub/main.go", "sub/secret.txt",
			},
			wantSkipped: map[string]string{
				".git":                       "built-in skip list: .git/",
				"debug.log":                  "ignored by .gitignore: *.log",
				"secret.txt":                 "ignored by .gitignore: /secret.txt",
				"excluded.txt":               "ignored by .git/info/exclude: excluded.txt",
				"tmp":                        "ignored by .gitignore: tmp/",
				"sub/x.go":                   "ignored by sub/.gitignore: *.go",
				"sub/deep/z.go":              "ignored by sub/.gitignore: *.go",
				"sub/deep/notes.log":         "ignored by .gitignore: *.log",
				"other/nested/only-here.txt": "ignored by other/nested/.gitignore: /only-here.txt",
			},
		},
		{
			name: "gitignore of ancestors applies to a named subdirectory",
			files: map[string]string{
				".gitignore":     "*.tmp\n",
				"pkg/a.go":       "package pkg\n",
				"pkg/b.tmp":      "tmp\n",
				"pkg/.gitignore": "c.go\n",
				"pkg/c.go":       "package pkg\n",
			},
			paths:       []string{"pkg"},
			wantPacked:  []string{"pkg/.gitignore", "pkg/a.go"},
			wantSkipped: map[string]string{"pkg/b.tmp": "ignored by .gitignore: *.tmp", "pkg/c.go": "ignored by pkg/.gitignore: c.go"},
		},
		{
			name: "a named ignored directory is walked; other rules still apply below it",
			files: map[string]string{
				".gitignore":          "dist/\n*.log\n",
				"dist/app.js":         "app\n",
				"dist/app.log":        "log\n",
				"dist/sub/lib.js":     "lib\n",
				"dist/build/gen.js":   "generated\n",
				"node_modules/a/a.js": "a\n",
			},
			paths:      []string{"dist", "node_modules/a"},
			wantPacked: []string{"dist/app.js", "dist/sub/lib.js", "node_modules/a/a.js"},
			wantSkipped: map[string]string{
				"dist/app.log": "ignored by .gitignore: *.log",
				"dist/build":   "built-in skip list: build/",
			},
		},
		{
			name: "named files bypass ignore rules and the built-in list",
			files: map[string]string{
				".gitignore":        "*.log\n",
				"debug.log":         "wanted anyway\n",
				"package-lock.json": "{}\n",
			},
			paths:      []string{"debug.log", "package-lock.json"},
			wantPacked: []string{"debug.log", "package-lock.json"},
		},
		{
			name: "built-in skip list",
			files: map[string]string{
				"node_modules/x/index.js": "x\n",
				".venv/lib.py":            "x\n",
				"__pycache__/m.py":        "x\n",
				"build/out.txt":           "x\n",
				"src/app.js":              "app\n",
				"src/app.min.js":          "min\n",
				"src/app.js.map":          "{}\n",
				"package-lock.json":       "{}\n",
				"go.sum":                  "x\n",
				".DS_Store":               "x\n",
				"src/build.go":            "a file named like a skipped dir is kept\n",
				".env":                    "API_KEY=secret\n",
				"config/.env.production":  "API_KEY=secret\n",
				"deploy/server.key":       "-----BEGIN PRIVATE KEY-----\n",
			},
			paths:      []string{"."},
			wantPacked: []string{"src/app.js", "src/build.go"},
			wantSkipped: map[string]string{
				"node_modules": "built-in skip list: node_modules/", ".venv": "built-in", "__pycache__": "built-in",
				"build": "built-in", "src/app.min.js": "*.min.js", "src/app.js.map": "*.map",
				"package-lock.json": "package-lock.json", "go.sum": "go.sum", ".DS_Store": ".DS_Store",
				".env": "built-in skip list: .env", "config/.env.production": ".env.*", "deploy/server.key": "*.key",
			},
		},
		{
			name: "binary by extension and by sniffing",
			files: map[string]string{
				"logo.PNG":     "text content, but the extension decides\n",
				"model.onnx":   "x",
				"nul.txt":      "abc\x00def",
				"random.dat2":  "\xff\xfe\x80\x81\x82\x83\x84\x85\x86\x87 some \x88\x89\x8a",
				"latin1.txt":   latin1,
				"cjk.md":       "日本語のテキスト、中文文本。\n",
				"straddle.txt": straddle,
				"empty.txt":    "",
				"late-nul.txt": strings.Repeat("x", sniffLen+10) + "\x00", // past the sniff: text
			},
			paths:      []string{"."},
			wantPacked: []string{"cjk.md", "empty.txt", "late-nul.txt", "latin1.txt", "straddle.txt"},
			wantSkipped: map[string]string{
				"logo.PNG": "binary file (extension .png)", "model.onnx": "extension .onnx",
				"nul.txt": "binary file (content)", "random.dat2": "binary file (content)",
			},
		},
		{
			name: "per-file and total size caps",
			files: map[string]string{
				"a.txt":   strings.Repeat("a", 1000),
				"b.txt":   strings.Repeat("b", 1000),
				"c.txt":   strings.Repeat("c", 1001),
				"big.txt": strings.Repeat("x", 3000),
			},
			paths:      []string{"."},
			opt:        Options{MaxFileBytes: 2000, MaxTotalBytes: 2500},
			wantPacked: []string{"a.txt", "b.txt"},
			wantSkipped: map[string]string{
				"big.txt": "too large: 2.9 KB exceeds the 2 KB per-file cap",
				"c.txt":   "total size cap of 2.4 KB reached",
			},
		},
		{
			name: "symlinks: escaping, loops, inside, duplicates",
			files: map[string]string{
				"a.txt":       "a\n",
				"escape":      "->/etc",
				"escape-file": "->/etc/passwd",
				"rel-escape":  "->../../..",
				"sub/up":      "->..",
				"sub/self":    "->self",
				"dangling":    "->nowhere",
				"sub/b.txt":   "b\n",
				"alias.txt":   "->sub/b.txt",
				"linkdir":     "->sub",
			},
			paths:      []string{"."},
			wantPacked: []string{"a.txt", "sub/b.txt"},
			wantSkipped: map[string]string{
				"escape":      ReasonOutsideRoots,
				"escape-file": ReasonOutsideRoots,
				"rel-escape":  ReasonOutsideRoots,
				"sub/up":      "symlink loop",
				"sub/self":    "broken or looping symlink",
				"dangling":    "broken or looping symlink",
				"alias.txt":   "duplicate of sub/b.txt",
				"linkdir":     "already walked via another path",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := mkTree(t, tc.files)
			opt := tc.opt
			opt.Roots = []string{root}
			res, err := Pack(context.Background(), tc.paths, opt)
			if err != nil {
				t.Fatalf("Pack: %v", err)
			}
			got := append(rels(res.Inline), rels(res.Overflow)...)
			slices.Sort(got)
			if !slices.Equal(got, tc.wantPacked) {
				t.Errorf("packed files:\n got %q\nwant %q", got, tc.wantPacked)
			}
			skipped := skippedRel(t, root, res.Skipped)
			for rel, want := range tc.wantSkipped {
				if reason, ok := skipped[rel]; !ok {
					t.Errorf("%s not skipped; skipped: %v", rel, skipped)
				} else if !strings.Contains(reason, want) {
					t.Errorf("%s skipped with reason %q; want it to contain %q", rel, reason, want)
				}
			}
			if len(skipped) != len(tc.wantSkipped) {
				t.Errorf("skipped %d entries, want %d: %v", len(skipped), len(tc.wantSkipped), skipped)
			}
			// Nothing dropped silently: every packed or skipped entry is in the tree.
			for _, r := range tc.wantPacked {
				if !strings.Contains(res.Tree, filepath.Base(r)+" [") {
					t.Errorf("tree lacks %s:\n%s", r, res.Tree)
				}
			}
			for r := range tc.wantSkipped {
				if !strings.Contains(res.Tree, filepath.Base(r)) {
					t.Errorf("tree lacks skipped %s:\n%s", r, res.Tree)
				}
			}
		})
	}
}

// TestPack_namedErrors covers named paths that make the call fail.
func TestPack_namedErrors(t *testing.T) {
	t.Parallel()
	outside := mkTree(t, map[string]string{"x.txt": "x\n"})
	root := mkTree(t, map[string]string{
		"ok.txt":     "fine\n",
		"img.png":    "x",
		"blob.txt":   "a\x00b",
		"escape":     "->" + filepath.Join(outside, "x.txt"),
		"escape-dir": "->" + outside,
		"dangling":   "->nowhere",
		"loop":       "->loop",
	})
	// A 50 MB file, sparse so the test stays fast.
	huge := filepath.Join(root, "huge.txt")
	fh, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	fifo := filepath.Join(root, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		paths    []string
		priority []string
		want     []error
		inMsg    []string
	}{
		{"missing", []string{"nope.txt"}, nil, []error{ErrNotFound}, []string{`"nope.txt" (` + filepath.Join(root, "nope.txt") + `)`}},
		{"missing absolute", []string{filepath.Join(root, "a/b")}, nil, []error{ErrNotFound}, []string{"a/b"}},
		{"outside roots", []string{filepath.Join(outside, "x.txt")}, nil, []error{ErrOutsideRoots}, []string{"x.txt"}},
		{"outside via ..", []string{"../" + filepath.Base(outside) + "/x.txt"}, nil, []error{ErrOutsideRoots}, nil},
		{"outside dir", []string{outside}, nil, []error{ErrOutsideRoots}, nil},
		{"root of filesystem", []string{"/"}, nil, []error{ErrOutsideRoots}, nil},
		{"symlink escaping root", []string{"escape"}, nil, []error{ErrOutsideRoots}, []string{"escape", "x.txt"}},
		{"dir symlink escaping root", []string{"escape-dir"}, nil, []error{ErrOutsideRoots}, nil},
		{"dangling symlink", []string{"dangling"}, nil, []error{ErrNotFound}, nil},
		{"symlink loop", []string{"loop"}, nil, []error{ErrNotFound}, nil},
		{"binary by extension", []string{"img.png"}, nil, []error{ErrBinary}, []string{"img.png"}},
		{"binary by content", []string{"blob.txt"}, nil, []error{ErrBinary}, []string{"blob.txt"}},
		{"50 MB file", []string{"huge.txt"}, nil, []error{ErrTooLarge}, []string{"huge.txt", "50 MB", "2 MB"}},
		{"fifo", []string{"fifo"}, nil, []error{ErrNotRegular}, []string{"fifo"}},
		{"bad priority path", []string{"ok.txt"}, []string{"gone.txt"}, []error{ErrNotFound}, []string{"gone.txt"}},
		{"all problems reported", []string{"nope.txt", "img.png", "ok.txt", "huge.txt"}, nil,
			[]error{ErrNotFound, ErrBinary, ErrTooLarge}, []string{"nope.txt", "img.png", "huge.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := Options{Roots: []string{root}, Priority: tc.priority}
			for name, call := range map[string]func() error{
				"Pack": func() error { _, err := Pack(context.Background(), tc.paths, opt); return err },
				"Count": func() error {
					_, err := Count(context.Background(), append(tc.paths, tc.priority...), opt, 5)
					return err
				},
			} {
				err := call()
				if err == nil {
					t.Fatalf("%s succeeded; want %v", name, tc.want)
				}
				for _, w := range tc.want {
					if !errors.Is(err, w) {
						t.Errorf("%s error %q does not wrap %v", name, err, w)
					}
				}
				for _, s := range tc.inMsg {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s error %q does not mention %q", name, err, s)
					}
				}
			}
		})
	}
}

// TestPack_walkedSpecials: a huge sparse file and a FIFO found by walking
// are skipped (the FIFO is never opened, which would block).
func TestPack_walkedSpecials(t *testing.T) {
	t.Parallel()
	root := mkTree(t, map[string]string{"a.txt": "a\n"})
	fh, err := os.Create(filepath.Join(root, "huge.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Pack(context.Background(), []string{root}, Options{Roots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	skipped := skippedRel(t, root, res.Skipped)
	if !strings.Contains(skipped["huge.txt"], "too large: 50 MB exceeds the 2 MB per-file cap") {
		t.Errorf("huge.txt: %q", skipped["huge.txt"])
	}
	if !strings.Contains(skipped["fifo"], "not a regular file") {
		t.Errorf("fifo: %q", skipped["fifo"])
	}
	if got := rels(res.Inline); !slices.Equal(got, []string{"a.txt"}) {
		t.Errorf("inline %q", got)
	}
}

// TestPack_roots covers relative paths, several roots and the default root.
func TestPack_roots(t *testing.T) {
	t.Parallel()
	r1 := mkTree(t, map[string]string{"a.txt": "a\n", "d/b.txt": "b\n"})
	r2 := mkTree(t, map[string]string{"c.txt": "c\n"})
	if err := os.Symlink(r2, filepath.Join(r1, "link-to-r2")); err != nil {
		t.Fatal(err)
	}
	res, err := Pack(context.Background(), []string{"d", filepath.Join(r2, "c.txt"), "link-to-r2"}, Options{Roots: []string{r1, r2}})
	if err != nil {
		t.Fatal(err)
	}
	got := rels(res.Inline)
	slices.Sort(got)
	// c.txt named by its real path in r2 wins the dedup, under r2's absolute name.
	want := []string{filepath.ToSlash(filepath.Join(r2, "c.txt")), "d/b.txt"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("inline %q, want %q", got, want)
	}
	if s := skippedRel(t, r1, res.Skipped); !strings.HasPrefix(s["link-to-r2/c.txt"], "duplicate of /") {
		t.Errorf("skipped %v", s)
	}
	if !strings.Contains(res.Tree, filepath.ToSlash(r2)) {
		t.Errorf("tree lacks the second root:\n%s", res.Tree)
	}
	if _, err := Pack(context.Background(), []string{"a.txt"}, Options{Roots: []string{"relative/root"}}); err == nil {
		t.Error("relative root accepted")
	}
}

// write sets a file's content and mtime.
func write(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// tok is the estimate of a whole small file.
func tok(content string) int { return EstimateTokens(int64(len(content)), []byte(content)) }

// TestPack_selection covers priority, smallest-first order, ties and the
// budget boundary.
func TestPack_selection(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"z.txt":     strings.Repeat("z", 30),
		"a.txt":     strings.Repeat("a", 30), // ties with z: by path
		"m.txt":     strings.Repeat("m", 60),
		"big.txt":   strings.Repeat("b", 300),
		"p/pri.go":  strings.Repeat("p", 150),
		"p/huge.go": strings.Repeat("h", 900), // more than all others together
	}
	tk := make(map[string]int)
	total := 0
	for rel, c := range files {
		tk[rel] = tok(c)
		total += tk[rel]
	}
	if tk["a.txt"] != tk["z.txt"] || tk["p/huge.go"] <= total-tk["p/huge.go"] {
		t.Fatalf("fixture assumptions broken: %v", tk)
	}
	cases := []struct {
		name         string
		budget       int
		priority     []string
		wantInline   []string
		wantOverflow []string
	}{
		{"all fit exactly", total, nil, []string{"a.txt", "z.txt", "m.txt", "p/pri.go", "big.txt", "p/huge.go"}, nil},
		{"one short", total - 1, nil, []string{"a.txt", "z.txt", "m.txt", "p/pri.go", "big.txt"}, []string{"p/huge.go"}},
		{"one short of the third", tk["a.txt"] + tk["z.txt"] + tk["m.txt"] - 1, nil, []string{"a.txt", "z.txt"}, []string{"m.txt", "p/pri.go", "big.txt", "p/huge.go"}},
		{"ties by path", tk["a.txt"], nil, []string{"a.txt"}, []string{"z.txt", "m.txt", "p/pri.go", "big.txt", "p/huge.go"}},
		{"priority first", tk["p/pri.go"] + tk["a.txt"] + tk["z.txt"], []string{"p"}, []string{"p/pri.go", "a.txt", "z.txt"}, []string{"p/huge.go", "m.txt", "big.txt"}},
		{"priority file alone over budget is attached", total - tk["p/huge.go"], []string{"p/huge.go"}, []string{"a.txt", "z.txt", "m.txt", "p/pri.go", "big.txt"}, []string{"p/huge.go"}},
		{"negative budget inlines nothing", -1, nil, nil, []string{"a.txt", "z.txt", "m.txt", "p/pri.go", "big.txt", "p/huge.go"}},
	}
	root := mkTree(t, files)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := Options{Roots: []string{root}, BudgetTokens: tc.budget, Priority: tc.priority}
			for range 3 { // stable across calls
				res, err := Pack(context.Background(), []string{"."}, opt)
				if err != nil {
					t.Fatal(err)
				}
				if got := rels(res.Inline); !slices.Equal(got, tc.wantInline) {
					t.Fatalf("inline %q, want %q", got, tc.wantInline)
				}
				if got := rels(res.Overflow); !slices.Equal(got, tc.wantOverflow) {
					t.Fatalf("overflow %q, want %q", got, tc.wantOverflow)
				}
				sum := 0
				for _, f := range res.Inline {
					sum += f.Tokens
					if string(f.Content) != files[f.Rel] {
						t.Errorf("%s content %q", f.Rel, f.Content)
					}
					if f.Priority != slices.ContainsFunc(tc.priority, func(p string) bool { return strings.HasPrefix(f.Rel, p) }) {
						t.Errorf("%s priority=%v", f.Rel, f.Priority)
					}
				}
				for _, f := range res.Overflow {
					if f.Content != nil {
						t.Errorf("overflow %s has content", f.Rel)
					}
				}
				if res.InlineTokens != sum || sum > max(tc.budget, 0) || res.TotalTokens != total {
					t.Errorf("InlineTokens %d (sum %d, budget %d), TotalTokens %d", res.InlineTokens, sum, tc.budget, res.TotalTokens)
				}
			}
		})
	}
}

// TestPack_stable covers the stable inline list across three calls.
func TestPack_stable(t *testing.T) {
	t.Parallel()
	root := mkTree(t, map[string]string{})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write(t, filepath.Join(root, "same.txt"), strings.Repeat("s", 30), t0)
	write(t, filepath.Join(root, "edit.txt"), strings.Repeat("e", 30), t0)
	write(t, filepath.Join(root, "touch.txt"), strings.Repeat("t", 30), t0)
	write(t, filepath.Join(root, "left.txt"), strings.Repeat("l", 3000), t0) // overflow in call 1
	opt := Options{Roots: []string{root}, BudgetTokens: 100}

	first, err := Pack(context.Background(), []string{"."}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := rels(first.Inline); !slices.Equal(got, []string{"edit.txt", "same.txt", "touch.txt"}) {
		t.Fatalf("first inline %q", got)
	}
	if len(first.Unchanged) != 0 {
		t.Fatalf("first unchanged %q", rels(first.Unchanged))
	}

	write(t, filepath.Join(root, "edit.txt"), strings.Repeat("E", 33), t0.Add(time.Second))
	write(t, filepath.Join(root, "touch.txt"), strings.Repeat("t", 30), t0.Add(time.Second)) // same size, new mtime
	write(t, filepath.Join(root, "new.txt"), "n", t0)
	write(t, filepath.Join(root, "newprio.txt"), "p", t0)
	opt.Previous = first.Stamps(nil)
	opt.Priority = []string{"newprio.txt"}
	second, err := Pack(context.Background(), []string{"."}, opt)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s %q, want %q", what, got, want)
		}
	}
	check("second unchanged", rels(second.Unchanged), []string{"same.txt"})
	check("second inline", rels(second.Inline), []string{"newprio.txt", "touch.txt", "edit.txt"})
	check("second overflow", rels(second.Overflow), []string{"new.txt", "left.txt"})
	if want := tok(strings.Repeat("s", 30)); second.UnchangedTokens != want {
		t.Errorf("unchanged tokens %d, want %d", second.UnchangedTokens, want)
	}
	if want := tok(strings.Repeat("s", 30)) + tok("p") + tok(strings.Repeat("t", 30)) + tok(strings.Repeat("E", 33)); second.InlineTokens != want {
		t.Errorf("tokens: unchanged %d inline %d", second.UnchangedTokens, second.InlineTokens)
	}
	for _, f := range second.Unchanged {
		if f.Content != nil {
			t.Errorf("unchanged %s carries content", f.Rel)
		}
	}
	if !strings.Contains(second.Tree, "same.txt [unchanged]") || !strings.Contains(second.Tree, "new.txt [attached]") ||
		!strings.Contains(second.Tree, "edit.txt [inline]") {
		t.Errorf("tree:\n%s", second.Tree)
	}

	// Third call: nothing changed, a budget below what the model holds. Unchanged files stay
	// unchanged even over the budget; the rest overflows.
	opt.Previous = second.Stamps(opt.Previous)
	opt.BudgetTokens = 2
	third, err := Pack(context.Background(), []string{"."}, opt)
	if err != nil {
		t.Fatal(err)
	}
	check("third unchanged", rels(third.Unchanged), []string{"newprio.txt", "same.txt", "touch.txt", "edit.txt"})
	check("third inline", rels(third.Inline), nil)
	check("third overflow", rels(third.Overflow), []string{"new.txt", "left.txt"})
}

// TestPack_cancel: a cancelled ctx stops the walk and the reads promptly,
// leaving no goroutine behind (goleak in TestMain).
func TestPack_cancel(t *testing.T) {
	t.Parallel()
	root := genTree(t, 5000, 2048)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Pack(ctx, []string{"."}, Options{Roots: []string{root}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: %v", err)
	}
	if _, err := Count(ctx, []string{"."}, Options{Roots: []string{root}}, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled Count: %v", err)
	}
	// Cancel mid-way at several points; the measured latency is logged, the
	// assertion is a generous bound for a noisy 2-core machine.
	var worst time.Duration
	for _, after := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Pack(ctx, []string{"."}, Options{Roots: []string{root}, BudgetTokens: 1 << 30})
			done <- err
		}()
		time.Sleep(after)
		cancel()
		start := time.Now()
		err := <-done
		lat := time.Since(start)
		worst = max(worst, lat)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel after %v: %v", after, err)
		}
		if lat > 2*time.Second {
			t.Errorf("cancel after %v took %v to return", after, lat)
		}
	}
	t.Logf("worst cancel-to-return latency on a 5,000-file tree: %v", worst)
}

// genTree writes n files of about size bytes in 50 directories.
func genTree(tb testing.TB, n, size int) string {
	tb.Helper()
	dir, err := filepath.EvalSymlinks(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	line := "func example() { return fmt.Sprintf(\"%d\", 42) } // some code\n"
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("pkg%02d", i%50))
		if i < 50 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		sz := size/2 + (i*7919)%size // sizes spread over [size/2, 1.5 size)
		body := strings.Repeat(line, sz/len(line)+1)[:sz]
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.go", i)), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// TestCount covers totals, per-file list and the largest files and dirs.
func TestCount(t *testing.T) {
	t.Parallel()
	root := mkTree(t, map[string]string{
		"a/x.txt":     strings.Repeat("x", 300),
		"a/b/y.txt":   strings.Repeat("y", 600),
		"c/z.txt":     strings.Repeat("z", 150),
		"top.txt":     strings.Repeat("t", 30),
		"a/empty.txt": "",
		"img.png":     "x",
	})
	rep, err := Count(context.Background(), []string{"."}, Options{Roots: []string{root}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	x, y, z, top := tok(strings.Repeat("x", 300)), tok(strings.Repeat("y", 600)), tok(strings.Repeat("z", 150)), tok(strings.Repeat("t", 30))
	if rep.TotalTokens != x+y+z+top || rep.TotalBytes != 1080 || rep.FileCount != 5 {
		t.Errorf("totals: %+v", rep)
	}
	var files []string
	for _, f := range rep.Files {
		files = append(files, fmt.Sprintf("%s=%d", f.Rel, f.Tokens))
	}
	want := []string{fmt.Sprintf("a/b/y.txt=%d", y), "a/empty.txt=0", fmt.Sprintf("a/x.txt=%d", x), fmt.Sprintf("c/z.txt=%d", z), fmt.Sprintf("top.txt=%d", top)}
	if !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	if len(rep.LargestFiles) != 2 || rep.LargestFiles[0].Rel != "a/b/y.txt" || rep.LargestFiles[1].Rel != "a/x.txt" {
		t.Errorf("largest files %+v", rep.LargestFiles)
	}
	if want := []DirTokens{{Rel: "a", Files: 3, Bytes: 900, Tokens: x + y}, {Rel: "a/b", Files: 1, Bytes: 600, Tokens: y}}; !slices.Equal(rep.LargestDirs, want) {
		t.Errorf("largest dirs %+v, want %+v", rep.LargestDirs, want)
	}
	if len(rep.Skipped) != 1 || !strings.HasSuffix(rep.Skipped[0].Path, "img.png") {
		t.Errorf("skipped %+v", rep.Skipped)
	}
}

func TestFormatInline(t *testing.T) {
	t.Parallel()
	got := FormatInline([]File{
		{Rel: "a.go", Content: []byte("package a\n")},
		{Rel: `we"ird<&>.txt`, Content: []byte("no newline")},
		{Rel: "empty.txt"},
	})
	want := "<file path=\"a.go\">\npackage a\n</file>\n" +
		"<file path=\"we&quot;ird&lt;&amp;&gt;.txt\">\nno newline\n</file>\n" +
		"<file path=\"empty.txt\">\n</file>\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if FormatInline(nil) != "" {
		t.Error("nil files produce output")
	}
}

func TestPack_tree(t *testing.T) {
	t.Parallel()
	root := mkTree(t, map[string]string{
		"a/b/c/deep.txt":    "d\n",
		"a/x.txt":           strings.Repeat("x", 3000),
		"a/y.txt":           strings.Repeat("y", 3000),
		"img.png":           "x",
		"node_modules/m.js": "m\n",
		"other/o1.txt":      strings.Repeat("o", 3000),
		"other/o2.txt":      strings.Repeat("o", 3001),
		"readme.md":         "r\n",
	})
	base := filepath.Base(root)
	full := base + "/\n" +
		"  a/\n" +
		"    b/c/\n" +
		"      deep.txt [inline]\n" +
		"    x.txt [attached]\n" +
		"    y.txt [attached]\n" +
		"  img.png [skipped: binary file (extension .png)]\n" +
		"  node_modules/ [skipped: built-in skip list: node_modules/]\n" +
		"  other/\n" +
		"    o1.txt [attached]\n" +
		"    o2.txt [attached]\n" +
		"  readme.md [inline]\n"
	summarized := base + "/\n" +
		"  a/\n" +
		"    b/c/\n" +
		"      deep.txt [inline]\n" +
		"    … 2 attached\n" +
		"  node_modules/ [skipped: built-in skip list: node_modules/]\n" +
		"  other/\n" +
		"    … 2 attached\n" +
		"  readme.md [inline]\n" +
		"  … 1 skipped\n"
	collapsed := base + "/\n" +
		"  a/\n" +
		"    b/c/\n" +
		"      deep.txt [inline]\n" +
		"    … 2 attached\n" +
		"  node_modules/ [skipped: built-in skip list: node_modules/]\n" +
		"  other/ [2 attached]\n" +
		"  readme.md [inline]\n" +
		"  … 1 skipped\n"
	for _, tc := range []struct {
		name      string
		maxTokens int
		want      string
		wantLevel int
	}{
		{"no cap", -1, full, TreeFull},
		{"default cap", 0, full, TreeFull},
		{"cap fits the summary", tok(summarized), summarized, TreeSummarized},
		{"tiny cap", 1, collapsed, TreeCollapsed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Pack(context.Background(), []string{"."}, Options{Roots: []string{root}, BudgetTokens: 10, TreeMaxTokens: tc.maxTokens})
			if err != nil {
				t.Fatal(err)
			}
			if res.Tree != tc.want || res.TreeLevel != tc.wantLevel {
				t.Errorf("level %d, tree:\n%s\nwant level %d:\n%s", res.TreeLevel, res.Tree, tc.wantLevel, tc.want)
			}
			if res.TreeTokens != tok(res.Tree) {
				t.Errorf("TreeTokens %d, want %d", res.TreeTokens, tok(res.Tree))
			}
		})
	}
}

// TestPack_content: inline content is the file's bytes whichever way it was
// read (kept from the sniff, re-read because the kept-bytes bound was hit,
// or read in full because it is larger than the sniff).
func TestPack_content(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"a.txt":    strings.Repeat("a", 60), // walked first: kept from the sniff
		"b.txt":    strings.Repeat("b", 50), // kept bytes would pass the 100-byte cap: re-read
		"c.txt":    strings.Repeat("c", 45),
		"empty":    "",
		"big/x.go": strings.Repeat("package x // a line of Go\n", 1000), // 26 KB > sniff
	}
	root := mkTree(t, files)
	for _, tc := range []struct {
		name     string
		maxTotal int64
		inline   []string
	}{
		{"kept bytes bound hit", 100, []string{"empty", "c.txt", "b.txt"}},
		{"default caps", 0, []string{"empty", "c.txt", "b.txt", "a.txt", "big/x.go"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Pack(context.Background(), []string{"."}, Options{Roots: []string{root}, MaxTotalBytes: tc.maxTotal})
			if err != nil {
				t.Fatal(err)
			}
			if got := rels(res.Inline); !slices.Equal(got, tc.inline) {
				t.Fatalf("inline %q, want %q", got, tc.inline)
			}
			for _, f := range res.Inline {
				if string(f.Content) != files[f.Rel] || int64(len(f.Content)) != f.Size || f.Content == nil {
					t.Errorf("%s: %d bytes of content (nil %v), size %d, want %d bytes", f.Rel, len(f.Content), f.Content == nil, f.Size, len(files[f.Rel]))
				}
			}
		})
	}
}
