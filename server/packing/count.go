package packing

import (
	"cmp"
	"context"
	"path"
	"slices"
	"strings"
)

// DefaultTopN is how many largest files and directories [Count] lists when
// topN <= 0.
const DefaultTopN = 10

// FileTokens is one file's estimated size in tokens.
type FileTokens struct {
	Path   string `json:"path"`
	Rel    string `json:"rel"`
	Bytes  int64  `json:"bytes"`
	Tokens int    `json:"tokens"`
}

// DirTokens totals the files below one directory (recursively).
type DirTokens struct {
	Rel    string `json:"rel"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
	Tokens int    `json:"tokens"`
}

// TokenReport is the outcome of [Count].
type TokenReport struct {
	TotalTokens  int          `json:"total_tokens"`
	TotalBytes   int64        `json:"total_bytes"`
	FileCount    int          `json:"file_count"`
	Files        []FileTokens `json:"files"`         // every counted file, sorted by Rel
	LargestFiles []FileTokens `json:"largest_files"` // top N by tokens (ties by Rel)
	LargestDirs  []DirTokens  `json:"largest_dirs"`  // top N directories by tokens, root excluded
	Skipped      []Skipped    `json:"skipped"`
}

// Count walks paths exactly like [Pack] (same roots, ignore rules, binary
// checks and caps, same errors for bad named paths) and estimates tokens
// without reading any file beyond its first 8 KiB. Budget, Priority and
// Previous are ignored.
func Count(ctx context.Context, paths []string, opt Options, topN int) (*TokenReport, error) {
	if topN <= 0 {
		topN = DefaultTopN
	}
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	opt.Priority, opt.Previous = nil, nil
	col, err := collect(ctx, paths, opt)
	if err != nil {
		return nil, err
	}
	// The total cap applies as in Pack; selection with a negative budget puts every
	// kept file in Overflow.
	opt.BudgetTokens = -1
	sel := col.selectFiles(opt)
	// Empty lists encode as [], never null: clients iterate them.
	rep := &TokenReport{Files: []FileTokens{}, LargestDirs: []DirTokens{}}
	dirs := make(map[string]*DirTokens)
	for _, f := range sel.res.Overflow {
		rep.TotalTokens += f.Tokens
		rep.TotalBytes += f.Size
		rep.Files = append(rep.Files, FileTokens{Path: f.Path, Rel: f.Rel, Bytes: f.Size, Tokens: f.Tokens})
		for d := path.Dir(f.Rel); d != "." && d != "/" && d != ""; d = path.Dir(d) {
			dt, ok := dirs[d]
			if !ok {
				dt = &DirTokens{Rel: d}
				dirs[d] = dt
			}
			dt.Files++
			dt.Bytes += f.Size
			dt.Tokens += f.Tokens
		}
	}
	rep.FileCount = len(rep.Files)
	slices.SortFunc(rep.Files, func(a, b FileTokens) int { return strings.Compare(a.Rel, b.Rel) })
	rep.LargestFiles = slices.Clone(rep.Files)
	slices.SortStableFunc(rep.LargestFiles, func(a, b FileTokens) int { return cmp.Compare(b.Tokens, a.Tokens) })
	rep.LargestFiles = rep.LargestFiles[:min(topN, len(rep.LargestFiles))]
	for _, d := range dirs {
		rep.LargestDirs = append(rep.LargestDirs, *d)
	}
	slices.SortFunc(rep.LargestDirs, func(a, b DirTokens) int {
		return cmp.Or(cmp.Compare(b.Tokens, a.Tokens), strings.Compare(a.Rel, b.Rel))
	})
	rep.LargestDirs = rep.LargestDirs[:min(topN, len(rep.LargestDirs))]
	var res Result
	col.finishSkipped(&res)
	rep.Skipped = res.Skipped
	if rep.Skipped == nil {
		rep.Skipped = []Skipped{}
	}
	return rep, nil
}
