package packing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ResolveFile applies the context paths' rules to one file named by a
// caller (an image, say): a relative path is taken from the first root,
// symlinks are resolved, and the result must be a regular file inside one
// of roots. It returns the resolved path.
func ResolveFile(roots []string, p string) (string, error) {
	rs, err := absRoots(roots)
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		return "", fmt.Errorf("cannot resolve %q: no allowed roots", p)
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(rs[0].lex, abs)
	}
	abs = filepath.Clean(abs)
	real, err := filepath.EvalSymlinks(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("cannot use %q: %w", p, ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("cannot use %q: cannot resolve symlinks: %w", p, err)
	}
	inside := false
	for _, r := range rs {
		inside = inside || isWithin(r.real, real)
	}
	if !inside {
		return "", fmt.Errorf("cannot use %q (%s): %w", p, real, ErrOutsideRoots)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("cannot use %q: %w", p, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("cannot use %q: not a regular file", p)
	}
	return real, nil
}
