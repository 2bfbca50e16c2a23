package vectorstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store and file states kept in SQLite. A record is written *before* the
// provider call that creates the object, so a crash between the two leaves a
// "creating"/"uploading" record that the next run resolves (the original
// server accumulated stores and 41,002 files because nothing remembered what
// it created).
const (
	stateCreating  = "creating"  // provider create requested, id maybe unknown
	stateLive      = "live"      // usable
	stateRetired   = "retired"   // memory store past its rollover: searched, not written
	stateDeleting  = "deleting"  // delete requested, not yet confirmed
	stateUploading = "uploading" // file upload requested, id maybe unknown
	stateUploaded  = "uploaded"  // file exists at the provider

	kindSession = "session"
	kindMemory  = "memory"
)

var migrations = []string{
	`CREATE TABLE IF NOT EXISTS vs_meta(
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS vs_stores(
		nonce TEXT PRIMARY KEY,
		store_id TEXT NOT NULL DEFAULT '',
		kind TEXT NOT NULL,
		project TEXT NOT NULL,
		tool TEXT NOT NULL DEFAULT '',
		session_id TEXT NOT NULL DEFAULT '',
		mem_type TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		last_used INTEGER NOT NULL,
		doc_count INTEGER NOT NULL DEFAULT 0,
		owner TEXT NOT NULL DEFAULT '')`,
	`CREATE INDEX IF NOT EXISTS vs_stores_session ON vs_stores(project, tool, session_id, kind)`,
	`CREATE TABLE IF NOT EXISTS vs_files(
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		project TEXT NOT NULL,
		path TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		upload_name TEXT NOT NULL,
		file_id TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		owner TEXT NOT NULL DEFAULT '')`,
	`CREATE INDEX IF NOT EXISTS vs_files_dedup ON vs_files(project, path, sha256)`,
	`CREATE INDEX IF NOT EXISTS vs_files_file_id ON vs_files(file_id)`,
	`CREATE TABLE IF NOT EXISTS vs_store_files(
		nonce TEXT NOT NULL,
		file_id TEXT NOT NULL,
		path TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		PRIMARY KEY(nonce, file_id))`,
	`CREATE INDEX IF NOT EXISTS vs_store_files_file ON vs_store_files(file_id)`,
	// One row per running manager; a stale heartbeat marks a crashed run whose
	// "creating"/"uploading" records may be cleaned up.
	`CREATE TABLE IF NOT EXISTS vs_owners(
		owner TEXT PRIMARY KEY,
		heartbeat INTEGER NOT NULL)`,
	// The owner's process on this host (procid.ID): a restarted server
	// knows at once that a killed run is gone, without waiting for its
	// heartbeat to go stale.
	`ALTER TABLE vs_owners ADD COLUMN process TEXT NOT NULL DEFAULT ''`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	for _, q := range migrations {
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.HasPrefix(q, "ALTER TABLE") && strings.Contains(err.Error(), "duplicate column") {
				continue // added by an earlier run
			}
			return fmt.Errorf("cannot migrate vector-store tables: %w", err)
		}
	}
	return nil
}

// installID returns this database's random identity, creating it once. It is
// part of every store name, so start-up cleanup only ever deletes stores made
// by a server using this same database, never another user's.
func installID(ctx context.Context, db *sql.DB) (string, error) {
	var id string
	err := db.QueryRowContext(ctx, `SELECT value FROM vs_meta WHERE key='install_id'`).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("cannot read install id: %w", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT OR IGNORE INTO vs_meta(key, value) VALUES('install_id', ?)`, randomHex(4)); err != nil {
		return "", fmt.Errorf("cannot write install id: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT value FROM vs_meta WHERE key='install_id'`).Scan(&id); err != nil {
		return "", fmt.Errorf("cannot read install id: %w", err)
	}
	return id, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// storeRow is one vs_stores record.
type storeRow struct {
	Nonce, StoreID, Kind, Project, Tool, SessionID, MemType, State string
	CreatedAt, LastUsed                                            time.Time
	DocCount                                                       int
	Owner                                                          string
}

const storeCols = `nonce, store_id, kind, project, tool, session_id, mem_type, state, created_at, last_used, doc_count, owner`

func scanStores(rows *sql.Rows) ([]storeRow, error) {
	defer rows.Close()
	var out []storeRow
	for rows.Next() {
		var r storeRow
		var created, used int64
		if err := rows.Scan(&r.Nonce, &r.StoreID, &r.Kind, &r.Project, &r.Tool, &r.SessionID, &r.MemType, &r.State, &created, &used, &r.DocCount, &r.Owner); err != nil {
			return nil, fmt.Errorf("cannot scan vector store record: %w", err)
		}
		r.CreatedAt, r.LastUsed = time.Unix(0, created), time.Unix(0, used)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read vector store records: %w", err)
	}
	return out, nil
}

func (m *Manager) queryStores(ctx context.Context, where string, args ...any) ([]storeRow, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT `+storeCols+` FROM vs_stores WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot query vector store records: %w", err)
	}
	return scanStores(rows)
}

// storeFile is one file attached to a store, as recorded.
type storeFile struct {
	FileID, Path, SHA256 string
}

func (m *Manager) storeFiles(ctx context.Context, nonce string) (map[string]storeFile, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT file_id, path, sha256 FROM vs_store_files WHERE nonce=?`, nonce)
	if err != nil {
		return nil, fmt.Errorf("cannot query files of store %s: %w", nonce, err)
	}
	defer rows.Close()
	out := map[string]storeFile{}
	for rows.Next() {
		var f storeFile
		if err := rows.Scan(&f.FileID, &f.Path, &f.SHA256); err != nil {
			return nil, fmt.Errorf("cannot scan files of store %s: %w", nonce, err)
		}
		out[f.Path] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read files of store %s: %w", nonce, err)
	}
	return out, nil
}

// uploadedFile returns the provider id of a file already uploaded for the
// project with this path and content hash, or "".
func (m *Manager) uploadedFile(ctx context.Context, project, path, sum string) (string, error) {
	var id string
	err := m.db.QueryRowContext(ctx, `SELECT file_id FROM vs_files
		WHERE project=? AND path=? AND sha256=? AND state=? AND file_id<>'' ORDER BY id DESC LIMIT 1`,
		project, path, sum, stateUploaded).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot look up upload of %q: %w", path, err)
	}
	return id, nil
}

func (m *Manager) nowNanos() int64 { return m.o.Clock.Now().UnixNano() }
