package packing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ReasonOutsideRoots is the skip reason of a walked symlink whose target is
// outside every allowed root; such a link is listed, never followed.
const ReasonOutsideRoots = "outside allowed roots"

// root is an allowed root, as given and with symlinks resolved.
type root struct {
	lex, real string
}

// cand is a file that passed the name-based checks; sniffing may still skip it.
type cand struct {
	File
	real  string // symlink-resolved path, for dedup
	named bool   // named by the caller rather than found by walking
	whole []byte // the entire file, kept from the sniff when small (see sniffAll)
	skip  string // set when sniffing finds it binary or unreadable
}

// skipEntry is a Skipped with what the tree needs.
type skipEntry struct {
	Skipped
	rel string
	dir bool
}

// collector gathers candidates and skips for one Pack or Count call. It is
// used by one goroutine, except that sniff workers each own distinct cands.
type collector struct {
	opt       Options
	roots     []root
	files     []*cand
	byReal    map[string]*cand
	skipped   []skipEntry
	visited   map[string]bool  // real paths of walked directories
	ruleCache map[string]rules // rules added by a directory, by disk path
	links     []entry          // symlinks found while walking, resolved last
	errs      []error          // problems with named paths
}

// collect resolves and walks paths and opt.Priority, then sniffs every
// candidate. opt must have its defaults applied.
func collect(ctx context.Context, paths []string, opt Options) (*collector, error) {
	roots, err := absRoots(opt.Roots)
	if err != nil {
		return nil, err
	}
	c := &collector{
		opt:       opt,
		roots:     roots,
		byReal:    make(map[string]*cand),
		visited:   make(map[string]bool),
		ruleCache: make(map[string]rules),
	}
	// Priority paths first, so a file named twice keeps its priority path.
	for _, p := range opt.Priority {
		if err := c.addNamed(ctx, p, true); err != nil {
			return nil, err
		}
	}
	for _, p := range paths {
		if err := c.addNamed(ctx, p, false); err != nil {
			return nil, err
		}
	}
	if err := c.resolveLinks(ctx); err != nil {
		return nil, err
	}
	if err := c.sniffAll(ctx); err != nil {
		return nil, err
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return c, nil
}

// addNamed resolves one caller-given path and adds it. Problems with the path
// itself go to c.errs; only ctx errors are returned.
func (c *collector) addNamed(ctx context.Context, p string, priority bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot pack context: %w", err)
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(c.roots[0].lex, abs)
	}
	abs = filepath.Clean(abs)
	if abs != p {
		p = fmt.Sprintf("%q (%s)", p, abs) // say where a relative path was looked for
	} else {
		p = strconv.Quote(p)
	}
	if _, err := os.Lstat(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.errs = append(c.errs, fmt.Errorf("cannot pack %s: %w", p, ErrNotFound))
		} else {
			c.errs = append(c.errs, fmt.Errorf("cannot pack %s: %w", p, err))
		}
		return nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("cannot pack %s: cannot resolve symlinks (dangling or looping): %w: %w", p, ErrNotFound, err))
		return nil
	}
	ri := c.rootOf(real, true)
	if ri < 0 {
		if real != abs {
			p += ", which resolves to " + real
		}
		c.errs = append(c.errs, fmt.Errorf("cannot pack %s: %w", p, ErrOutsideRoots))
		return nil
	}
	// Keep the path as named when it lies inside a root lexically (a link
	// inside the project keeps its name); otherwise use the resolved path.
	k, base := c.rootOf(abs, false), ""
	if k >= 0 {
		base = c.roots[k].lex
	} else {
		k, base, abs = ri, c.roots[ri].real, real
	}
	parts := splitRel(base, abs)
	info, err := os.Stat(abs)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("cannot pack %s: %w", p, err))
		return nil
	}
	inherited, err := c.ancestorRules(base, parts)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("cannot pack %s: %w", p, err))
		return nil
	}
	switch {
	case info.IsDir():
		if c.visited[real] {
			return nil // named twice, or inside a directory already named
		}
		return c.walkDir(ctx, abs, real, k, parts, inherited.unexcluding(parts), priority)
	case info.Mode().IsRegular():
		c.addFile(abs, real, k, parts, info, true, priority)
	default:
		c.errs = append(c.errs, fmt.Errorf("cannot pack %s, a %s: %w", p, info.Mode().Type(), ErrNotRegular))
	}
	return nil
}

// walkDir walks one directory below root k; parts are its components under
// the root and inherited the ignore rules of its ancestors.
func (c *collector) walkDir(ctx context.Context, dir, dirReal string, k int, parts []string, inherited rules, priority bool) error {
	c.visited[dirReal] = true
	own, err := c.rulesOf(dir, parts)
	if err != nil {
		c.skip(dir, k, parts, true, err.Error())
		return nil
	}
	rs := append(slices.Clip(inherited), own...)
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.skip(dir, k, parts, true, "cannot read directory: "+err.Error())
		return nil
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cannot pack context: walk of %q interrupted: %w", dir, err)
		}
		en := entry{
			path: filepath.Join(dir, e.Name()), real: filepath.Join(dirReal, e.Name()), parentReal: dirReal,
			k: k, parts: append(slices.Clip(parts), e.Name()), rules: rs, priority: priority,
		}
		if e.Type()&fs.ModeSymlink != 0 {
			// Links are resolved after every real path is walked, so a file
			// keeps its real name and the link is the duplicate.
			c.links = append(c.links, en)
			continue
		}
		if e.IsDir() {
			if err := c.addDir(ctx, en, false); err != nil {
				return err
			}
			continue
		}
		info, err := e.Info()
		if err != nil {
			c.skip(en.path, k, en.parts, false, "cannot stat: "+err.Error())
			continue
		}
		c.addWalkedFile(en, info)
	}
	return nil
}

// entry is a directory entry found while walking, with its context.
type entry struct {
	path, real, parentReal string
	k                      int
	parts                  []string
	rules                  rules // rules of its parent directory
	priority               bool
}

// addDir applies the skip rules to a walked directory and walks it.
func (c *collector) addDir(ctx context.Context, en entry, viaLink bool) error {
	name := en.parts[len(en.parts)-1]
	if why := builtinSkip(name, true); why != "" {
		c.skip(en.path, en.k, en.parts, true, why)
		return nil
	}
	if r, ok := en.rules.match(en.parts, true); ok {
		c.skip(en.path, en.k, en.parts, true, r.reason())
		return nil
	}
	if c.visited[en.real] {
		if !viaLink {
			return nil // named earlier by the caller: its files are already in
		}
		why := "symlink loop: target already walked"
		if !isWithin(en.real, en.parentReal) {
			why = "already walked via another path"
		}
		c.skip(en.path, en.k, en.parts, true, why)
		return nil
	}
	return c.walkDir(ctx, en.path, en.real, en.k, en.parts, en.rules, en.priority)
}

// addWalkedFile applies the skip rules to a walked file and adds it.
func (c *collector) addWalkedFile(en entry, info fs.FileInfo) {
	name := en.parts[len(en.parts)-1]
	if why := builtinSkip(name, false); why != "" {
		c.skip(en.path, en.k, en.parts, false, why)
		return
	}
	if r, ok := en.rules.match(en.parts, false); ok {
		c.skip(en.path, en.k, en.parts, false, r.reason())
		return
	}
	if !info.Mode().IsRegular() {
		c.skip(en.path, en.k, en.parts, false, "not a regular file ("+info.Mode().Type().String()+")")
		return
	}
	c.addFile(en.path, en.real, en.k, en.parts, info, false, en.priority)
}

// resolveLinks handles the symlinks found while walking, including those
// found inside directories reached through links.
func (c *collector) resolveLinks(ctx context.Context) error {
	for len(c.links) > 0 {
		en := c.links[0]
		c.links = c.links[1:]
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cannot pack context: %w", err)
		}
		target, err := filepath.EvalSymlinks(en.path)
		if err != nil {
			c.skip(en.path, en.k, en.parts, false, "broken or looping symlink: "+err.Error())
			continue
		}
		if c.rootOf(target, true) < 0 {
			c.skip(en.path, en.k, en.parts, false, ReasonOutsideRoots)
			continue
		}
		info, err := os.Stat(en.path)
		if err != nil {
			c.skip(en.path, en.k, en.parts, false, "cannot stat symlink target: "+err.Error())
			continue
		}
		en.real = target
		if info.IsDir() {
			if err := c.addDir(ctx, en, true); err != nil {
				return err
			}
			continue
		}
		c.addWalkedFile(en, info)
	}
	return nil
}

// addFile applies the checks that need no read: dedup, binary extension and
// the per-file size cap.
func (c *collector) addFile(p, real string, k int, parts []string, info fs.FileInfo, named, priority bool) {
	if prev, ok := c.byReal[real]; ok {
		prev.Priority = prev.Priority || priority
		if prev.Path != p {
			c.skip(p, k, parts, false, "duplicate of "+prev.Rel)
		}
		return
	}
	if binaryByExt(p) {
		if named {
			c.errs = append(c.errs, fmt.Errorf("cannot pack %q: %w (by extension %s)", p, ErrBinary, filepath.Ext(p)))
		} else {
			c.skip(p, k, parts, false, "binary file (extension "+strings.ToLower(filepath.Ext(p))+")")
		}
		return
	}
	if info.Size() > c.opt.MaxFileBytes {
		if named {
			c.errs = append(c.errs, fmt.Errorf("cannot pack %q: %w: %s exceeds the %s per-file cap", p, ErrTooLarge, humanBytes(info.Size()), humanBytes(c.opt.MaxFileBytes)))
		} else {
			c.skip(p, k, parts, false, fmt.Sprintf("too large: %s exceeds the %s per-file cap", humanBytes(info.Size()), humanBytes(c.opt.MaxFileBytes)))
		}
		return
	}
	f := &cand{
		File: File{
			Path: p, Rel: c.rel(k, parts), Size: info.Size(), ModTime: info.ModTime(), Priority: priority,
		},
		real:  real,
		named: named,
	}
	c.byReal[real] = f
	c.files = append(c.files, f)
}

// sniffAll reads the first sniffLen bytes of every candidate, with at most
// opt.Workers files open at once, to drop binaries and estimate tokens.
// A file that fits in the sniff is kept in memory so it need not be read
// again if inlined, but only while the kept bytes stay under
// opt.MaxTotalBytes: memory stays bounded on huge trees.
func (c *collector) sniffAll(ctx context.Context) error {
	bufs := make([][]byte, c.opt.Workers)
	var held atomic.Int64
	err := forEach(ctx, len(c.files), c.opt.Workers, func(worker, i int) {
		if bufs[worker] == nil {
			bufs[worker] = make([]byte, sniffLen)
		}
		f := c.files[i]
		sample, whole, err := readPrefix(f.Path, f.Size, bufs[worker])
		if err != nil {
			f.skip = "cannot read: " + err.Error()
			return
		}
		st := scanSample(sample, !whole)
		if st.binary() {
			f.skip = "binary file (content)"
			return
		}
		f.Tokens = st.tokens(f.Size)
		if whole && held.Add(int64(len(sample))) <= c.opt.MaxTotalBytes {
			f.whole = slices.Clone(sample)
			if f.whole == nil {
				f.whole = []byte{}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("cannot pack context: %w", err)
	}
	kept := c.files[:0]
	for _, f := range c.files {
		switch {
		case f.skip == "":
			kept = append(kept, f)
		case f.named && f.skip == "binary file (content)":
			c.errs = append(c.errs, fmt.Errorf("cannot pack %q: %w (content is not UTF-8 text)", f.Path, ErrBinary))
		case f.named:
			c.errs = append(c.errs, fmt.Errorf("cannot pack %q: %s", f.Path, f.skip))
		default:
			c.skipped = append(c.skipped, skipEntry{Skipped: Skipped{Path: f.Path, Reason: f.skip}, rel: f.Rel})
		}
	}
	c.files = kept
	return nil
}

// readPrefix reads the first min(size, len(buf)) bytes of a file of size
// bytes (as stat saw it) into buf; whole reports that they are the entire
// file. Trusting size saves the extra read that would find EOF, and keeps
// the content consistent with the size in the file's Stamp if the file
// grows meanwhile.
func readPrefix(path string, size int64, buf []byte) (sample []byte, whole bool, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer fh.Close()
	if size <= int64(len(buf)) {
		buf, whole = buf[:size], true
	}
	m, err := io.ReadFull(fh, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return buf[:m], true, nil // shrank since stat
	}
	if err != nil {
		return nil, false, err
	}
	return buf, whole, nil
}

// forEach runs fn(worker, i) for i in 0..n-1 on at most workers goroutines
// (worker is the goroutine's index, for per-worker buffers) and waits for
// them. It stops handing out work once ctx ends and then returns ctx.Err().
func forEach(ctx context.Context, n, workers int, fn func(worker, i int)) error {
	if workers > n {
		workers = n
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range next {
				fn(w, i)
			}
		})
	}
	var err error
feed:
	for i := range n {
		if err = ctx.Err(); err != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return err
}

// skip records something left out.
func (c *collector) skip(p string, k int, parts []string, dir bool, why string) {
	c.skipped = append(c.skipped, skipEntry{Skipped: Skipped{Path: p, Reason: why}, rel: c.rel(k, parts), dir: dir})
}

// rootOf returns the index of the root containing p, or -1. real selects
// comparison against the symlink-resolved roots.
func (c *collector) rootOf(p string, real bool) int {
	for i, r := range c.roots {
		base := r.lex
		if real {
			base = r.real
		}
		if isWithin(base, p) {
			return i
		}
	}
	return -1
}

// rel is the File.Rel of parts under root k.
func (c *collector) rel(k int, parts []string) string {
	r := strings.Join(parts, "/")
	if k == 0 {
		if r == "" {
			return "."
		}
		return r
	}
	base := filepath.ToSlash(c.roots[k].lex)
	if r == "" {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/" + r
}

// ancestorRules returns the ignore rules of the directories strictly above
// parts, from the root down.
func (c *collector) ancestorRules(base string, parts []string) (rules, error) {
	var rs rules
	for i := 0; i < len(parts); i++ {
		own, err := c.rulesOf(filepath.Join(base, filepath.Join(parts[:i]...)), parts[:i])
		if err != nil {
			return nil, err
		}
		rs = append(rs, own...)
	}
	return rs, nil
}

// rulesOf returns (and caches) the rules directory dir adds.
func (c *collector) rulesOf(dir string, parts []string) (rules, error) {
	if rs, ok := c.ruleCache[dir]; ok {
		return rs, nil
	}
	rs, err := dirRules(dir, parts)
	if err != nil {
		return nil, err
	}
	c.ruleCache[dir] = rs
	return rs, nil
}

// isWithin reports whether p is base or below it (both clean and absolute).
func isWithin(base, p string) bool {
	if p == base {
		return true
	}
	if !strings.HasSuffix(base, string(filepath.Separator)) {
		base += string(filepath.Separator)
	}
	return strings.HasPrefix(p, base)
}

// splitRel returns p's components below base (p must be within base).
func splitRel(base, p string) []string {
	r, err := filepath.Rel(base, p)
	if err != nil || r == "." {
		return nil
	}
	return strings.Split(filepath.ToSlash(r), "/")
}

// humanBytes formats n for messages: "2 MB", "512 KB", "17 B".
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(float64(n)/(1<<20)) + " MB"
	case n >= 1<<10:
		return trimZero(float64(n)/(1<<10)) + " KB"
	}
	return fmt.Sprintf("%d B", n)
}

func trimZero(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}
