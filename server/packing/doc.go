// Package packing turns the paths a tool call names into model context: which
// files go inline in the prompt, which are attached (overflow, for the vector
// store), and which are skipped and why. Nothing is dropped silently: every
// file or pruned directory left out is in [Result.Skipped] with its reason,
// and [Result.Tree] shows the whole picture to the model.
//
// # Paths and allowed roots
//
// Paths are absolute or relative to Options.Roots[0] (default: the working
// directory). Every path is resolved with filepath.EvalSymlinks and must land
// inside an allowed root; otherwise the call fails with [ErrOutsideRoots]. While
// walking, a symlink whose target is outside the roots is skipped with the
// reason [ReasonOutsideRoots] and never followed; symlinked directories inside
// the roots are followed once (a link back to an ancestor is skipped as a
// "symlink loop"), and a file reached twice is packed once (the other path
// is skipped as "duplicate of …").
//
// # Named versus walked
//
// A path the caller names is taken as intent: ignore rules and the built-in
// skip list do not apply to it, and if it is missing, outside the roots,
// binary, over the per-file cap, or not a regular file, Pack fails with an
// error wrapping [ErrNotFound], [ErrOutsideRoots], [ErrBinary], [ErrTooLarge]
// or [ErrNotRegular] that names the path (all bad paths of a call are joined
// into one error). Files found by walking a named directory are instead
// skipped with a reason. Below a named directory the rules apply as usual,
// except those that ignore the named directory itself: naming dist/ packs
// its files even though .gitignore says "dist/" (but still not dist/*.log
// when "*.log" is ignored).
//
// # Ignore rules
//
// Walking applies git's rules with go-git's gitignore patterns: the root's
// .git/info/exclude (and that of any nested repository), then every
// .gitignore from the root down to the directory being walked, deeper files
// winning; the last matching pattern decides and "!pattern" re-includes. As in
// git, an ignored directory is pruned whole (listed once), so nothing below it
// can be re-included. Global excludes (core.excludesFile) are not read: the
// result must not depend on the server user's home directory.
//
// Built-in skip list, applied before .gitignore to walked entries by name:
//
//	directories: .git .hg .svn .jj node_modules bower_components __pycache__
//	             .venv venv .tox .nox .mypy_cache .pytest_cache .ruff_cache .eggs
//	             dist build target .next .nuxt .gradle .terraform .cache .idea .vscode
//	files:       .DS_Store Thumbs.db desktop.ini and lock files (package-lock.json
//	             yarn.lock pnpm-lock.yaml bun.lockb poetry.lock Pipfile.lock uv.lock
//	             pdm.lock Cargo.lock Gemfile.lock composer.lock go.sum mix.lock
//	             flake.lock packages.lock.json)
//	patterns:    *.min.js *.min.css *.map *.pyc *.pyo *.swp *~
//	secrets:     .env .env.* *.pem *.key id_rsa* id_ecdsa* id_ed25519* .netrc .npmrc .pypirc
//
// # Binary files and caps
//
// A file is binary when its extension is on a list (images, archives,
// executables, media, fonts, databases, model weights …) or, otherwise, when
// its first 8 KiB hold a NUL byte or more than 10 % bytes outside valid
// UTF-8. Files over Options.MaxFileBytes (default 2 MB) are skipped, and once
// the considered files reach Options.MaxTotalBytes (default 50 MB), further
// files in selection order are skipped ("total size cap … reached").
// FIFOs, sockets and devices are skipped: reading them could block forever.
//
// # Token estimate
//
// [EstimateTokens] prices the sniffed 8 KiB prefix with a linear model over
// character classes (letters, digits, punctuation, spaces, newlines,
// 2-byte and wider UTF-8 runes) fitted to o200k_base counts of real source
// files, adds a 10 % safety margin, and scales to the file size (details
// in tokens.go). Per file type its median ratio to the real count is
// 0.88 (assembly) to 1.22 (proto), about 1.05 for Go and Markdown, where
// bytes/4 underestimates code by ~20 % and bytes/3 overestimates Markdown
// and JSON by 35–50 %. It costs one pass over at most 8 KiB per file,
// ~200× faster than running the o200k tokenizer (BenchmarkEstimate_vsTiktoken),
// so every file is estimated before any is read in full.
//
// # Selection
//
// Files are ordered: priority files first (those under Options.Priority),
// then by estimated tokens ascending, ties by size, then by Rel, so the order
// is stable across calls. The budget (Options.BudgetTokens) is filled
// greedily in that order; a file that does not fit goes to Overflow and
// later files may still fit (smaller non-priority files after a priority
// miss). Priority files get the first claim
// on the budget but are not forced past it: one that does not fit is
// attached (Overflow, Priority set) rather than inlined, because a prompt
// over the window makes the provider reject the whole call.
//
// # Stable inline list
//
// When Options.Previous is non-empty (the session already inlined those
// files; build it with [Result.Stamps]), the model's view is kept consistent:
//
//   - a previously inlined file with the same size and mtime goes to
//     Unchanged: not resent, its tokens still count toward the budget (even
//     past it: it is already in the conversation);
//   - a previously inlined file that changed is resent in Inline if it fits
//     the remaining budget, else it goes to Overflow;
//   - a file new to the session goes to Overflow, unless it is a priority
//     file, which is inlined if it fits (the caller asked for it explicitly).
//
// # File tree
//
// [Result.Tree] shows every considered file under its root, marked
// [inline], [unchanged], [attached] (overflow) or [skipped: reason]. It is
// not part of the budget but is capped by Options.TreeMaxTokens (default:
// 5 % of the budget, at least 2,000 tokens), because a 5,000-file project
// listed in full costs ~50k tokens. Over the cap it is summarised: first
// each directory's attached and skipped files become one "… 81 attached,
// 2 skipped" line (TreeSummarized); then directories holding nothing inline
// become one "dir/ [120 attached]" line (TreeCollapsed). Inline and
// unchanged files are always listed by name, and every file stays listed
// in Inline, Unchanged, Overflow or Skipped, which the caller reports.
//
// # Cancellation and concurrency
//
// Pack and Count check ctx between directory entries and between files, and
// sniff (8 KiB per file) and read inline files on at most Options.Workers
// goroutines (default 8), all owned and waited for by the call; a cancelled
// ctx returns an error wrapping ctx.Err() promptly. Only inline files are read
// in full (a file of at most 8 KiB is read once, by the sniff, and kept
// while the kept bytes stay under Options.MaxTotalBytes). Both
// functions keep no state between calls and are safe for concurrent use.
package packing
