package localindex_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/localindex"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

func openIndex(t *testing.T, clk clock.Clock) *localindex.Index {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "i.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	x, err := localindex.Open(context.Background(), db, localindex.Options{Clock: clk, TTL: time.Hour, ChunkBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func writeFile(t *testing.T, dir, name, body string) vectorstore.File {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return vectorstore.File{Path: p, Size: int64(len(body))}
}

func TestIndex_AttachSearchReuseExpire(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	x := openIndex(t, clk)
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 40; i++ {
		lines = append(lines, fmt.Sprintf("line %d of the handler", i))
	}
	lines[29] = "func reconcileLedger(ctx context.Context) error { // the needle"
	files := []vectorstore.File{
		writeFile(t, dir, "pkg/ledger.go", strings.Join(lines, "\n")+"\n"),
		writeFile(t, dir, "README.md", "nothing to see here\n"),
	}
	req := vectorstore.AttachRequest{Project: dir, Tool: "chat_with_gemini3_pro_preview", SessionID: "s1", Files: files}
	att, err := x.Attach(ctx, req)
	if err != nil || att.Uploaded != 2 || len(att.VectorStoreIDs) != 1 || !localindex.IsLocal(att.VectorStoreIDs[0]) {
		t.Fatalf("Attach = %+v, %v", att, err)
	}
	hits, err := x.Search(ctx, att.VectorStoreIDs, "where is reconcileLedger defined?", 3)
	if err != nil || len(hits) == 0 {
		t.Fatalf("Search = %v, %v", hits, err)
	}
	if h := hits[0]; h.FileID != "pkg/ledger.go" || !strings.Contains(h.Text, "reconcileLedger") || !strings.HasPrefix(h.Filename, "pkg/ledger.go:") {
		t.Errorf("best hit %+v; want the chunk of pkg/ledger.go holding the function", h)
	} else {
		var start, end int
		if _, err := fmt.Sscanf(strings.TrimPrefix(h.Filename, "pkg/ledger.go:"), "%d-%d", &start, &end); err != nil || start > 30 || end < 30 {
			t.Errorf("hit line range %q; want one covering line 30", h.Filename)
		}
	}
	// Same contents: reused. Changed contents: indexed again, old text gone.
	if att, err := x.Attach(ctx, req); err != nil || att.Reused != 2 || att.Uploaded != 0 {
		t.Errorf("second Attach = %+v, %v; want both reused", att, err)
	}
	files[0] = writeFile(t, dir, "pkg/ledger.go", "func settleAccounts() {}\n")
	if att, err := x.Attach(ctx, req); err != nil || att.Uploaded != 1 || att.Reused != 1 {
		t.Errorf("after a change Attach = %+v, %v; want one indexed again", att, err)
	}
	if hits, _ := x.Search(ctx, att.VectorStoreIDs, "reconcileLedger", 3); len(hits) != 0 {
		t.Errorf("old contents still found: %+v", hits)
	}
	// Other sessions' stores are not searched; an expired store is dropped.
	other := req
	other.SessionID, other.Files = "s2", nil
	clk.Advance(2 * time.Hour)
	oatt, err := x.Attach(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if hits, _ := x.Search(ctx, oatt.VectorStoreIDs, "settleAccounts", 3); len(hits) != 0 {
		t.Errorf("another session's files found: %+v", hits)
	}
	if hits, _ := x.Search(ctx, att.VectorStoreIDs, "settleAccounts", 3); len(hits) != 0 {
		t.Errorf("an expired store is still searched: %+v", hits)
	}
}

func TestMatchQuery(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"where is Foo?", `"where" OR "is" OR "Foo"`},
		{`AND OR NOT "quoted" near(a b)`, `"AND" OR "OR" OR "NOT" OR "quoted" OR "near" OR "a" OR "b"`},
		{"?!  ", ""},
		{"größe 42", `"größe" OR "42"`},
	} {
		if got := localindex.MatchQuery(tt.in, "OR"); got != tt.want {
			t.Errorf("MatchQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestChunk(t *testing.T) {
	for _, tt := range []struct {
		text string
		size int
		want []localindex.Piece
	}{
		{"", 10, nil},
		{"a\nb\nc\n", 100, []localindex.Piece{{"a\nb\nc\n", 1, 3}}},
		{"aaaa\nbbbb\ncccc", 10, []localindex.Piece{{"aaaa\nbbbb\n", 1, 2}, {"cccc", 3, 3}}},
		{"a-very-long-line\nb\n", 4, []localindex.Piece{{"a-very-long-line\n", 1, 1}, {"b\n", 2, 2}}},
	} {
		got := localindex.Chunk(tt.text, tt.size)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Chunk(%q, %d) = %+v, want %+v", tt.text, tt.size, got, tt.want)
		}
	}
}

func FuzzMatchQuery(f *testing.F) {
	f.Add(`where is "Foo" AND bar*`)
	f.Fuzz(func(t *testing.T, s string) {
		q := localindex.MatchQuery(s, "OR")
		if q == "" {
			return
		}
		for _, term := range strings.Split(q, " OR ") {
			if len(term) < 3 || term[0] != '"' || term[len(term)-1] != '"' || strings.Contains(term[1:len(term)-1], `"`) {
				t.Fatalf("MatchQuery(%q) has an unquoted term %q", s, term)
			}
		}
	})
}

// BenchmarkIndex indexes a tree of 5,000 files (100 MB of source-like
// text) into one store and then searches it, reporting the indexing
// throughput and the search latency percentiles.
//
//	go test ./server/localindex -run '^$' -bench Index -benchtime 1x
func BenchmarkIndex(b *testing.B) {
	const files, fileBytes = 5000, 20 << 10
	dir := b.TempDir()
	words := strings.Fields("func return error context handler request response session store upload ledger account " +
		"settle retry timeout cancel worker pool channel select mutex lock index search query chunk token window")
	var fs []vectorstore.File
	for i := range files {
		var sb strings.Builder
		for line := 0; sb.Len() < fileBytes; line++ {
			fmt.Fprintf(&sb, "%s %s_%d(%s, %s) // line %d of file %d\n", words[(i+line)%len(words)], words[(i*7+line)%len(words)],
				i%97, words[(line*3)%len(words)], words[(i+line*5)%len(words)], line, i)
		}
		name := fmt.Sprintf("pkg%02d/file%04d.go", i%50, i)
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		fs = append(fs, vectorstore.File{Path: p, Size: int64(sb.Len())})
	}
	ctx := context.Background()
	for range b.N {
		db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "i.db"))
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		x, err := localindex.Open(ctx, db, localindex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		att, err := x.Attach(ctx, vectorstore.AttachRequest{Project: dir, Tool: "t", SessionID: "s", Files: fs})
		if err != nil || att.Uploaded != files {
			b.Fatalf("Attach = %+v, %v", att, err)
		}
		took := time.Since(t0)
		b.ReportMetric(float64(files*fileBytes)/(1<<20)/took.Seconds(), "index-MB/s")
		var lat []time.Duration
		for q := range 200 {
			query := words[q%len(words)] + " " + words[(q*7)%len(words)] + fmt.Sprintf(" file %d", q*13%files)
			t1 := time.Now()
			hits, err := x.Search(ctx, att.VectorStoreIDs, query, 8)
			lat = append(lat, time.Since(t1))
			if err != nil || len(hits) == 0 {
				b.Fatalf("Search(%q) = %d hits, %v", query, len(hits), err)
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "search-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "search-p99-ms")
		db.Close()
	}
}
