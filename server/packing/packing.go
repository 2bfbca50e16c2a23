package packing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Defaults used when the matching [Options] field is zero.
const (
	// DefaultMaxFileBytes caps a single file (2 MB). Larger files found while
	// walking are skipped; a larger file named explicitly is an error.
	DefaultMaxFileBytes int64 = 2 << 20
	// DefaultMaxTotalBytes caps the bytes of all files considered by one call
	// (50 MB); files past the cap, in selection order, are skipped.
	DefaultMaxTotalBytes int64 = 50 << 20
	// DefaultBudgetTokens is 85 % of a 200k-token window (o3), used when the
	// caller passes no budget.
	DefaultBudgetTokens = 170_000
	// DefaultWorkers bounds how many files are sniffed or read at once.
	DefaultWorkers = 8
	// DefaultTreeMinTokens is the smallest default tree cap; the default is
	// 5 % of the budget when that is larger. A 5,000-file tree listed in
	// full costs ~50k tokens, a quarter of a 200k window.
	DefaultTreeMinTokens = 2_000
)

// Sentinel errors. Errors returned by [Pack] and [Count] wrap one of them and
// name the offending path; test with errors.Is.
var (
	// ErrOutsideRoots: a path (after resolving symlinks) is not inside any
	// allowed root.
	ErrOutsideRoots = errors.New("packing: path outside allowed roots")
	// ErrNotFound: a named path does not exist.
	ErrNotFound = errors.New("packing: path not found")
	// ErrBinary: a named file is binary (by extension or content).
	ErrBinary = errors.New("packing: binary file")
	// ErrTooLarge: a named file is larger than Options.MaxFileBytes.
	ErrTooLarge = errors.New("packing: file too large")
	// ErrNotRegular: a named path is neither a regular file nor a directory
	// (a FIFO, socket or device), which could block a read forever.
	ErrNotRegular = errors.New("packing: not a regular file or directory")
)

// Stamp identifies one version of a file: a file whose size or modification
// time differs from its stamp is considered changed.
type Stamp struct {
	Size    int64
	ModTime time.Time
}

// File is one text file the packer considered.
type File struct {
	Path     string    // absolute path as named or walked (symlinks not resolved)
	Rel      string    // slash-separated path relative to the first root; absolute (slashed) for files in other roots
	Size     int64     // bytes, from stat before any read
	ModTime  time.Time // from the same stat
	Tokens   int       // estimated tokens (see EstimateTokens)
	Content  []byte    // the file's bytes; set for Result.Inline only
	Priority bool      // named (or found under a path named) in Options.Priority
}

// Stamp returns the file's size and modification time.
func (f File) Stamp() Stamp { return Stamp{Size: f.Size, ModTime: f.ModTime} }

// Skipped is a file or directory that was left out, and why. Directories
// pruned as a whole (ignored, built-in skip list, escaping symlink) are listed
// once, not file by file.
type Skipped struct {
	Path   string `json:"path"` // absolute path
	Reason string `json:"reason"`
}

// Options configures [Pack] and [Count]. The zero value of every field means
// its default.
type Options struct {
	// Roots are the absolute directories paths must resolve into. Empty means
	// the current working directory. Relative paths given to Pack are
	// resolved against Roots[0].
	Roots []string
	// MaxFileBytes caps one file; 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxTotalBytes caps all considered files together; 0 means
	// DefaultMaxTotalBytes.
	MaxTotalBytes int64
	// BudgetTokens is how many estimated tokens may be inline (the caller
	// passes 85 % of the model window). 0 means DefaultBudgetTokens; a
	// negative value means nothing is inlined.
	BudgetTokens int
	// Priority paths are packed too and inlined before anything else.
	Priority []string
	// Previous holds the stamps of files this session already inlined, keyed
	// by File.Path (see Result.Stamps). Non-empty switches on the stable
	// inline list (see the package doc).
	Previous map[string]Stamp
	// Workers bounds concurrent file reads; 0 means DefaultWorkers.
	Workers int
	// TreeMaxTokens caps the estimated size of Result.Tree: above it the
	// tree is summarised (TreeSummarized, then TreeCollapsed). 0 means
	// max(DefaultTreeMinTokens, budget/20); negative means no cap.
	TreeMaxTokens int
}

// Result is the outcome of [Pack].
type Result struct {
	Inline    []File    // files to send inline now, priority first then smallest first; Content set
	Unchanged []File    // previously inlined, unchanged files: not resent, counted in the budget
	Overflow  []File    // files that did not fit (or are new to a stable session): for the vector store
	Skipped   []Skipped // everything left out, with the reason, sorted by path
	// Tree is a compact tree of everything considered, each file marked
	// [inline], [unchanged], [attached] (overflow) or [skipped: reason].
	Tree string
	// InlineTokens is the estimated tokens of Inline plus Unchanged: what
	// the model's view of the files costs. It is ≤ the budget unless
	// Unchanged alone exceeds it.
	InlineTokens int
	// TotalTokens is the estimated tokens of every file considered (inline,
	// unchanged and overflow).
	TotalTokens int
	// UnchangedTokens is the part of InlineTokens that is not resent.
	UnchangedTokens int
	// TreeTokens is the estimated size of Tree; it is not part of the budget.
	TreeTokens int
	// TreeLevel is the detail level Tree was rendered at: TreeFull, or
	// TreeSummarized / TreeCollapsed when the full tree exceeded
	// Options.TreeMaxTokens. Every file is in Inline, Unchanged, Overflow or
	// Skipped whatever the level.
	TreeLevel int
}

// Stamps returns prev (copied, may be nil) updated with the stamps of the
// files in r.Inline and r.Unchanged: what the session should pass as
// Options.Previous next time. Entries of prev absent from r are kept,
// because the model still holds what it was sent earlier.
func (r *Result) Stamps(prev map[string]Stamp) map[string]Stamp {
	out := make(map[string]Stamp, len(prev)+len(r.Inline)+len(r.Unchanged))
	for k, v := range prev {
		out[k] = v
	}
	for _, f := range r.Inline {
		out[f.Path] = f.Stamp()
	}
	for _, f := range r.Unchanged {
		out[f.Path] = f.Stamp()
	}
	return out
}

// withDefaults returns opt with zero fields replaced by the defaults.
func (opt Options) withDefaults() (Options, error) {
	if opt.MaxFileBytes <= 0 {
		opt.MaxFileBytes = DefaultMaxFileBytes
	}
	if opt.MaxTotalBytes <= 0 {
		opt.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if opt.BudgetTokens == 0 {
		opt.BudgetTokens = DefaultBudgetTokens
	}
	if opt.BudgetTokens < 0 {
		opt.BudgetTokens = 0
	}
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	if opt.TreeMaxTokens == 0 {
		opt.TreeMaxTokens = max(DefaultTreeMinTokens, opt.BudgetTokens/20)
	}
	if len(opt.Roots) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return opt, fmt.Errorf("cannot default allowed roots to the working directory: %w", err)
		}
		opt.Roots = []string{wd}
	}
	return opt, nil
}

// Pack walks paths (and opt.Priority), drops what is ignored, binary or too
// large, and splits the rest into Inline, Unchanged and Overflow under
// opt.BudgetTokens. Only Inline files are read in full.
//
// A named path (as opposed to one found by walking) that is missing, outside
// the roots, binary, too large or not a regular file makes Pack fail; all
// such problems are reported together (errors.Join), each wrapping its
// sentinel. Pack returns promptly with ctx.Err() wrapped when ctx ends.
// It is safe to call concurrently.
func Pack(ctx context.Context, paths []string, opt Options) (*Result, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	col, err := collect(ctx, paths, opt)
	if err != nil {
		return nil, err
	}
	sel := col.selectFiles(opt)
	if err := col.readInline(ctx, sel); err != nil {
		return nil, err
	}
	res := sel.res
	col.finishSkipped(res)
	res.Tree, res.TreeLevel = col.tree(sel, opt.TreeMaxTokens)
	res.TreeTokens = EstimateTokens(int64(len(res.Tree)), []byte(res.Tree))
	return res, nil
}

// absRoots validates the roots and resolves their symlinks once.
func absRoots(roots []string) ([]root, error) {
	out := make([]root, 0, len(roots))
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("cannot use allowed root %q: not an absolute path", r)
		}
		lex := filepath.Clean(r)
		real, err := filepath.EvalSymlinks(lex)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve allowed root %q: %w", r, err)
		}
		out = append(out, root{lex: lex, real: real})
	}
	return out, nil
}
