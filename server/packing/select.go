package packing

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// status is where a candidate ended up.
type status int

const (
	stInline status = iota + 1
	stUnchanged
	stOverflow
)

// selection is the result of selectFiles plus what reading and the tree need.
type selection struct {
	res      *Result
	inline   []*cand // parallel to res.Inline
	statusOf map[*cand]status
}

// selectFiles applies the total cap and the budget (rules in doc.go).
func (c *collector) selectFiles(opt Options) *selection {
	slices.SortStableFunc(c.files, func(a, b *cand) int {
		if a.Priority != b.Priority {
			if a.Priority {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Tokens, b.Tokens), cmp.Compare(a.Size, b.Size), strings.Compare(a.Rel, b.Rel))
	})

	// Total cap, in selection order, so the largest files go first.
	var total int64
	kept := make([]*cand, 0, len(c.files))
	for _, f := range c.files {
		if total+f.Size > opt.MaxTotalBytes {
			c.skipped = append(c.skipped, skipEntry{
				Skipped: Skipped{Path: f.Path, Reason: fmt.Sprintf("total size cap of %s reached", humanBytes(opt.MaxTotalBytes))},
				rel:     f.Rel,
			})
			continue
		}
		total += f.Size
		kept = append(kept, f)
	}

	sel := &selection{res: &Result{}, statusOf: make(map[*cand]status, len(kept))}
	res := sel.res
	stable := len(opt.Previous) > 0
	used := 0
	if stable {
		for _, f := range kept {
			if st, ok := opt.Previous[f.Path]; ok && st.Size == f.Size && st.ModTime.Equal(f.ModTime) {
				sel.statusOf[f] = stUnchanged
				res.Unchanged = append(res.Unchanged, f.File)
				used += f.Tokens
			}
		}
		res.UnchangedTokens = used
	}
	for _, f := range kept {
		res.TotalTokens += f.Tokens
		if sel.statusOf[f] == stUnchanged {
			continue
		}
		_, seen := opt.Previous[f.Path]
		eligible := !stable || seen || f.Priority
		if eligible && used+f.Tokens <= opt.BudgetTokens {
			used += f.Tokens
			sel.statusOf[f] = stInline
			res.Inline = append(res.Inline, f.File)
			sel.inline = append(sel.inline, f)
			continue
		}
		sel.statusOf[f] = stOverflow
		res.Overflow = append(res.Overflow, f.File)
	}
	res.InlineTokens = used
	return sel
}

// readInline fills Content of the inline files, at most workers at a time.
// A file that vanished or cannot be read since sniffing moves to Skipped.
func (c *collector) readInline(ctx context.Context, sel *selection) error {
	errs := make([]error, len(sel.inline))
	err := forEach(ctx, len(sel.inline), c.opt.Workers, func(_, i int) {
		f := sel.inline[i]
		if f.whole != nil {
			sel.res.Inline[i].Content = f.whole
			return
		}
		sel.res.Inline[i].Content, errs[i] = readLimited(f.Path, f.Size)
	})
	if err != nil {
		return fmt.Errorf("cannot pack context: reading inline files: %w", err)
	}
	res := sel.res
	kept, keptC := res.Inline[:0], sel.inline[:0]
	for i, f := range res.Inline {
		if errs[i] != nil {
			c.skipped = append(c.skipped, skipEntry{Skipped: Skipped{Path: f.Path, Reason: "cannot read: " + errs[i].Error()}, rel: f.Rel})
			res.InlineTokens -= f.Tokens
			res.TotalTokens -= f.Tokens
			delete(sel.statusOf, sel.inline[i])
			continue
		}
		kept, keptC = append(kept, f), append(keptC, sel.inline[i])
	}
	res.Inline, sel.inline = kept, keptC
	return nil
}

// readLimited reads a file, at most limit bytes: its size when it was
// measured, so content, tokens and Stamp agree if it grows meanwhile.
func readLimited(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, limit))
}

// finishSkipped sorts the skip list into the result.
func (c *collector) finishSkipped(res *Result) {
	slices.SortFunc(c.skipped, func(a, b skipEntry) int { return strings.Compare(a.Path, b.Path) })
	res.Skipped = make([]Skipped, len(c.skipped))
	for i, s := range c.skipped {
		res.Skipped[i] = s.Skipped
	}
}
