package packing

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// builtinDirs are directory names never walked: VCS metadata, dependency
// trees, virtualenvs, caches and build output. They are almost never what a
// reviewer model needs and can hold more files than the whole project.
var builtinDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".jj": true,
	"node_modules": true, "bower_components": true, "vendor.noindex": true,
	"__pycache__": true, ".venv": true, "venv": true, ".tox": true, ".nox": true,
	".mypy_cache": true, ".pytest_cache": true, ".ruff_cache": true, ".eggs": true,
	"dist": true, "build": true, "target": true, ".next": true, ".nuxt": true,
	".gradle": true, ".terraform": true, ".cache": true,
	".idea": true, ".vscode": true,
}

// builtinFiles are file names never packed: OS litter and lock files
// (machine-written, large, and useless to a reviewer).
var builtinFiles = map[string]bool{
	".DS_Store": true, "Thumbs.db": true, "desktop.ini": true,
	"package-lock.json": true, "yarn.lock": true, "pnpm-lock.yaml": true, "bun.lockb": true,
	"poetry.lock": true, "Pipfile.lock": true, "uv.lock": true, "pdm.lock": true,
	"Cargo.lock": true, "Gemfile.lock": true, "composer.lock": true, "go.sum": true,
	"mix.lock": true, "flake.lock": true, "packages.lock.json": true,
}

// builtinGlobs are file-name patterns never packed: minified bundles, source
// maps and compiled artefacts that slip past the binary checks, and files
// that usually hold secrets, which must not reach a third-party model just
// because a project forgot to ignore them (naming one explicitly still works).
var builtinGlobs = []string{
	"*.min.js", "*.min.css", "*.map", "*.pyc", "*.pyo", "*.swp", "*~",
	".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".npmrc", ".pypirc",
}

// builtinSkip returns why name is on the built-in skip list, or "".
func builtinSkip(name string, isDir bool) string {
	if isDir {
		if builtinDirs[name] {
			return "built-in skip list: " + name + "/"
		}
		return ""
	}
	if builtinFiles[name] {
		return "built-in skip list: " + name
	}
	for _, g := range builtinGlobs {
		if ok, _ := path.Match(g, name); ok {
			return "built-in skip list: " + g
		}
	}
	return ""
}

// rule is one gitignore pattern with where it came from, so a skip reason can
// name the file and line that caused it.
type rule struct {
	p    gitignore.Pattern
	src  string // root-relative slash path of the ignore file
	text string // the pattern as written
}

// rules is an ordered list of patterns, lowest priority first (git's order:
// .git/info/exclude, then .gitignore files from the root downwards).
type rules []rule

// match applies git's rule: the last matching pattern decides; a negated
// ("!") pattern re-includes. It returns the deciding rule when excluded.
func (rs rules) match(parts []string, isDir bool) (rule, bool) {
	for i := len(rs) - 1; i >= 0; i-- {
		switch rs[i].p.Match(parts, isDir) {
		case gitignore.Exclude:
			return rs[i], true
		case gitignore.Include:
			return rule{}, false
		}
	}
	return rule{}, false
}

// unexcluding returns rs without the rules that exclude the directory parts
// itself, for a directory the caller named explicitly: naming an ignored
// directory (say dist/) asks for its files, so the rules that ignore it must
// not then ignore everything below it. Other rules (say *.log) still apply.
func (rs rules) unexcluding(parts []string) rules {
	if _, excluded := rs.match(parts, true); !excluded || len(parts) == 0 {
		return rs
	}
	out := make(rules, 0, len(rs))
	for _, r := range rs {
		if r.p.Match(parts, true) != gitignore.Exclude {
			out = append(out, r)
		}
	}
	return out
}

// reason formats why a rule excluded something.
func (r rule) reason() string {
	return fmt.Sprintf("ignored by %s: %s", r.src, r.text)
}

// readIgnoreFile parses one gitignore-format file. domain is the directory
// holding the rules, as components relative to the root; src names the file
// in skip reasons. A missing file yields no rules.
func readIgnoreFile(file string, domain []string, src string) (rules, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read ignore file %q: %w", file, err)
	}
	var out rules
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, rule{p: gitignore.ParsePattern(line, domain), src: src, text: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot parse ignore file %q: %w", file, err)
	}
	return out, nil
}

// dirRules returns the rules a directory adds: its .git/info/exclude (when it
// is a repository root) and then its .gitignore, which wins over exclude.
// dir is the directory's path on disk, parts its components under the root.
func dirRules(dir string, parts []string) (rules, error) {
	relDir := strings.Join(parts, "/")
	name := func(f string) string {
		if relDir == "" {
			return f
		}
		return relDir + "/" + f
	}
	excl, err := readIgnoreFile(filepath.Join(dir, ".git", "info", "exclude"), parts, name(".git/info/exclude"))
	if err != nil {
		return nil, err
	}
	gi, err := readIgnoreFile(filepath.Join(dir, ".gitignore"), parts, name(".gitignore"))
	if err != nil {
		return nil, err
	}
	return append(excl, gi...), nil
}
