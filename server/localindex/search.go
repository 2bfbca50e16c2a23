package localindex

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// maxQueryTerms bounds the words a query is cut into.
const maxQueryTerms = 32

// word is what FTS5's unicode61 tokenizer indexes: letters and digits.
var word = regexp.MustCompile(`[\p{L}\p{N}]+`)

// MatchQuery turns free text into an FTS5 query: every word, quoted (so no
// word is read as an operator), joined by op (AND or OR); "" when the text
// has no word.
func MatchQuery(text, op string) string {
	words := word.FindAllString(text, maxQueryTerms)
	for i, w := range words {
		words[i] = `"` + w + `"`
	}
	return strings.Join(words, " "+op+" ")
}

// Search returns the chunks of the local stores among ids that best match
// query (BM25), at most maxResults (0: 8). Chunks holding every word of the
// query come first, then those holding any. Ids of other stores are
// ignored.
func (x *Index) Search(ctx context.Context, ids []string, query string, maxResults int) ([]vectorstore.SearchHit, error) {
	if maxResults <= 0 {
		maxResults = 8
	}
	var stores []string
	for _, id := range ids {
		if IsLocal(id) {
			stores = append(stores, `"`+storeToken(id)+`"`)
		}
	}
	if len(stores) == 0 || MatchQuery(query, "OR") == "" {
		return nil, nil
	}
	scope := "store : (" + strings.Join(stores, " OR ") + ")"
	seen := map[int64]bool{}
	var hits []vectorstore.SearchHit
	for _, op := range []string{"AND", "OR"} {
		match := scope + " AND {text path} : (" + MatchQuery(query, op) + ")"
		more, err := x.search(ctx, match, maxResults-len(hits), seen)
		if err != nil {
			return nil, err
		}
		hits = append(hits, more...)
		if len(hits) >= maxResults {
			break
		}
	}
	return hits, nil
}

// search runs one match, best first, skipping the chunks in seen.
func (x *Index) search(ctx context.Context, match string, n int, seen map[int64]bool) ([]vectorstore.SearchHit, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT rowid, path, start_line, end_line, text, rank FROM li_chunks
		WHERE li_chunks MATCH ? ORDER BY rank LIMIT ?`, match, n+len(seen))
	if err != nil {
		return nil, fmt.Errorf("cannot search the local index: %w", err)
	}
	defer rows.Close()
	var hits []vectorstore.SearchHit
	for rows.Next() && len(hits) < n {
		var row int64
		var path, text string
		var start, end int
		var rank float64
		if err := rows.Scan(&row, &path, &start, &end, &text, &rank); err != nil {
			return nil, fmt.Errorf("cannot read a local search hit: %w", err)
		}
		if seen[row] {
			continue
		}
		seen[row] = true
		hits = append(hits, vectorstore.SearchHit{FileID: path, Filename: fmt.Sprintf("%s:%d-%d", path, start, end),
			Score: -rank, Text: text})
	}
	return hits, rows.Err()
}
