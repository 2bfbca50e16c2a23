// Package localindex makes overflow files searchable with no provider
// vector store: a full-text index (SQLite FTS5, ranked by BM25) in the
// server's own database. Files are cut into chunks of whole lines that
// keep their path and line range, deduplicated by path and SHA-256 per
// session, and kept as long as the session's store is used within the TTL.
//
// An Index implements vectorstore.Attacher; its store ids start with
// "local-", so a router can tell them from a provider's.
package localindex

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// Defaults.
const (
	DefaultTTL        = 6 * time.Hour // a store unused this long is dropped
	DefaultChunkBytes = 2000          // a chunk's target size (whole lines)
	idPrefix          = "local-"
)

// IsLocal tells a local store id from a provider's.
func IsLocal(id string) bool { return strings.HasPrefix(id, idPrefix) }

// Split separates a provider's store ids from the local index's.
func Split(ids []string) (provider, local []string) {
	for _, id := range ids {
		if IsLocal(id) {
			local = append(local, id)
		} else {
			provider = append(provider, id)
		}
	}
	return provider, local
}

// Options configure an Index.
type Options struct {
	Clock      clock.Clock   // nil: real time
	TTL        time.Duration // 0: DefaultTTL
	ChunkBytes int           // 0: DefaultChunkBytes
}

// Index is the local overflow index over one SQLite database.
type Index struct {
	db  *sql.DB
	opt Options
}

var _ vectorstore.Attacher = (*Index)(nil)

// Open creates the index's tables in db if needed.
func Open(ctx context.Context, db *sql.DB, opt Options) (*Index, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.ChunkBytes <= 0 {
		opt.ChunkBytes = DefaultChunkBytes
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS li_stores (id TEXT PRIMARY KEY, project TEXT NOT NULL, tool TEXT NOT NULL,
			session_id TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL)`,
		// first_row..last_row: the file's chunks, so replacing a file is a
		// rowid range delete, not a scan of the whole index.
		`CREATE TABLE IF NOT EXISTS li_files (store_id TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
			size INTEGER NOT NULL, first_row INTEGER NOT NULL, last_row INTEGER NOT NULL, PRIMARY KEY (store_id, path))`,
		// store is the store id's hex part, an indexed token: a search
		// restricts to its stores inside the full-text match.
		`CREATE VIRTUAL TABLE IF NOT EXISTS li_chunks USING fts5(text, path, store,
			start_line UNINDEXED, end_line UNINDEXED, tokenize = 'unicode61')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("cannot create the local index's tables: %w", err)
		}
	}
	return &Index{db: db, opt: opt}, nil
}

// storeID is the session's store: one per project, tool and session.
func storeID(project, tool, session string) string {
	h := sha256.Sum256([]byte(project + "\x00" + tool + "\x00" + session))
	return idPrefix + hex.EncodeToString(h[:12])
}

// Attach indexes req.Files for the session (files already indexed with
// the same content are reused) and returns the session's store.
func (x *Index) Attach(ctx context.Context, req vectorstore.AttachRequest) (vectorstore.Attachment, error) {
	id := storeID(req.Project, req.Tool, req.SessionID)
	now := x.opt.Clock.Now()
	if err := x.sweep(ctx, now); err != nil {
		return vectorstore.Attachment{}, err
	}
	if _, err := x.db.ExecContext(ctx, `INSERT INTO li_stores (id, project, tool, session_id, created_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET last_used_at = excluded.last_used_at`,
		id, req.Project, req.Tool, req.SessionID, now.UnixNano(), now.UnixNano()); err != nil {
		return vectorstore.Attachment{}, fmt.Errorf("cannot record local store %s: %w", id, err)
	}
	att := vectorstore.Attachment{VectorStoreIDs: []string{id}}
	for start := 0; start < len(req.Files); {
		end := batchEnd(req.Files, start)
		if err := x.indexBatch(ctx, id, req.Project, req.Files[start:end], &att); err != nil {
			return att, err
		}
		start = end
	}
	return att, nil
}

// Batches: files indexed in one transaction (fewer commits; the database
// is held for at most one batch, so other users wait little).
const (
	batchFiles = 64
	batchBytes = 4 << 20
)

func batchEnd(files []vectorstore.File, start int) int {
	end, size := start, int64(0)
	for end < len(files) && end-start < batchFiles && (end == start || size+files[end].Size <= batchBytes) {
		size += files[end].Size
		end++
	}
	return end
}

// doc is one file read and cut, ready to index.
type doc struct {
	path, rel, hash string
	size            int
	chunks          []Piece
	prev            *fileRow // its record in the store, if any
}

type fileRow struct {
	hash              string
	firstRow, lastRow int64
}

// indexBatch reads and cuts files first — no disk I/O while the database
// is held — then indexes those not already in the store with the same
// content in one transaction. A file that cannot be read is reported in
// att.Failed; a database error fails the batch.
func (x *Index) indexBatch(ctx context.Context, id, project string, files []vectorstore.File, att *vectorstore.Attachment) error {
	var docs []doc
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := x.read(ctx, id, project, f)
		switch {
		case err != nil:
			att.Failed = append(att.Failed, vectorstore.FailedFile{Path: f.Path, Reason: err.Error()})
		case d.prev != nil && d.prev.hash == d.hash:
			att.Reused++
		default:
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot index into the local store %s: %w", id, err)
	}
	defer tx.Rollback()
	for _, d := range docs {
		if err := insertDoc(ctx, tx, id, d); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot index into the local store %s: %w", id, err)
	}
	att.Uploaded += len(docs)
	return nil
}

// read reads and cuts one file and looks up its record in the store.
func (x *Index) read(ctx context.Context, id, project string, f vectorstore.File) (doc, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return doc{}, fmt.Errorf("cannot read: %w", err)
	}
	sum := sha256.Sum256(b)
	d := doc{path: f.Path, rel: f.Path, hash: hex.EncodeToString(sum[:]), size: len(b)}
	if r, err := filepath.Rel(project, f.Path); err == nil && !strings.HasPrefix(r, "..") {
		d.rel = filepath.ToSlash(r)
	}
	var prev fileRow
	err = x.db.QueryRowContext(ctx, `SELECT sha256, first_row, last_row FROM li_files WHERE store_id = ? AND path = ?`,
		id, d.rel).Scan(&prev.hash, &prev.firstRow, &prev.lastRow)
	switch {
	case err == nil:
		d.prev = &prev
	case !errors.Is(err, sql.ErrNoRows):
		return doc{}, fmt.Errorf("cannot look up %s in the local index: %w", d.rel, err)
	}
	if d.prev == nil || d.prev.hash != d.hash {
		d.chunks = Chunk(string(b), x.opt.ChunkBytes)
	}
	return d, nil
}

// insertDoc replaces d's chunks in store id and records it.
func insertDoc(ctx context.Context, tx *sql.Tx, id string, d doc) error {
	if d.prev != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM li_chunks WHERE rowid BETWEEN ? AND ?`, d.prev.firstRow, d.prev.lastRow); err != nil {
			return fmt.Errorf("cannot replace %s in the local index: %w", d.rel, err)
		}
	}
	first, last := int64(0), int64(-1)
	for i, c := range d.chunks {
		res, err := tx.ExecContext(ctx, `INSERT INTO li_chunks (text, path, store, start_line, end_line) VALUES (?, ?, ?, ?, ?)`,
			c.Text, d.rel, storeToken(id), c.StartLine, c.EndLine)
		if err != nil {
			return fmt.Errorf("cannot index %s: %w", d.rel, err)
		}
		row, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("cannot index %s: %w", d.rel, err)
		}
		if i == 0 {
			first = row
		}
		last = row
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO li_files (store_id, path, sha256, size, first_row, last_row) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(store_id, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
		first_row = excluded.first_row, last_row = excluded.last_row`, id, d.rel, d.hash, d.size, first, last); err != nil {
		return fmt.Errorf("cannot record %s in the local index: %w", d.rel, err)
	}
	return nil
}

// storeToken is the store id as the single token the index holds.
func storeToken(id string) string { return strings.TrimPrefix(id, idPrefix) }

// sweep drops the stores unused for the TTL, with their files and chunks.
func (x *Index) sweep(ctx context.Context, now time.Time) error {
	rows, err := x.db.QueryContext(ctx, `SELECT id FROM li_stores WHERE last_used_at < ?`, now.Add(-x.opt.TTL).UnixNano())
	if err != nil {
		return fmt.Errorf("cannot list expired local stores: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("cannot list expired local stores: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := x.db.ExecContext(ctx, `DELETE FROM li_chunks WHERE li_chunks MATCH ?`, `store : "`+storeToken(id)+`"`); err != nil {
			return fmt.Errorf("cannot drop expired local store %s: %w", id, err)
		}
		for _, q := range []string{`DELETE FROM li_files WHERE store_id = ?`, `DELETE FROM li_stores WHERE id = ?`} {
			if _, err := x.db.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("cannot drop expired local store %s: %w", id, err)
			}
		}
	}
	return nil
}
