package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// DefaultTTL is how long an idle session is kept.
const DefaultTTL = 6 * time.Hour

// Key identifies a session.
type Key struct {
	Project   string `json:"project"`
	Tool      string `json:"tool"`
	SessionID string `json:"session_id"`
}

// Message is one chat-completions turn kept for chat models.
type Message struct {
	Role    string `json:"role"` // "user" or "assistant"
	Content string `json:"content"`
}

// Stamp is an inlined file's version (size and mtime), see package packing.
type Stamp struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// Record is the state of one session.
type Record struct {
	Key
	Model              string           `json:"model"`
	PreviousResponseID string           `json:"previous_response_id,omitempty"`
	History            []Message        `json:"history,omitempty"`
	Inline             map[string]Stamp `json:"inline,omitempty"` // stable inline list, by absolute path
	VectorStoreIDs     []string         `json:"vector_store_ids,omitempty"`
	LastAttach         *Attach          `json:"last_attach,omitempty"` // the latest call's vector-store outcome
	Calls              int              `json:"calls"`
	CreatedAt          time.Time        `json:"created_at"`
	UpdatedAt          time.Time        `json:"updated_at"`
}

// Attach is what the latest call did with its overflow files.
type Attach struct {
	Overflow int          `json:"overflow_files"`
	Uploaded int          `json:"uploaded"`
	Reused   int          `json:"reused"`
	Failed   []FailedFile `json:"failed,omitempty"`
	Note     string       `json:"note,omitempty"`
}

// FailedFile is an overflow file that could not be uploaded, and why.
type FailedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Summary is a session as listed by [Store.List].
type Summary struct {
	Key
	Model     string    `json:"model"`
	Calls     int       `json:"calls"`
	Inlined   int       `json:"inlined_files"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Options configures [Open].
type Options struct {
	TTL   time.Duration // 0: DefaultTTL
	Clock clock.Clock   // nil: clock.Real
}

// Store is the session database. Safe for concurrent use.
type Store struct {
	db  *sql.DB
	ttl time.Duration
	clk clock.Clock
}

// Open opens (creating if needed) the database at path; ":memory:" works for tests.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	dsn := path
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("cannot create directory for session database %q: %w", path, err)
		}
		dsn = "file:" + path
	}
	// busy_timeout: concurrent writers (two servers on one DB, the vector
	// store's own writes) wait instead of failing with SQLITE_BUSY.
	dsn += "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open session database %q: %w", path, err)
	}
	// One connection: SQLite has one writer, so more connections only turn
	// concurrent writes into SQLITE_BUSY sleeps (the vector-store layer
	// measured 20–60× slower uploads), each costs three descriptors (db, wal,
	// shm) that a harness's fd check sees, and an in-memory database would
	// be a different database per connection. WAL + synchronous=NORMAL keep
	// each commit cheap. Callers must not hold a *sql.Rows open while making
	// another query on the same goroutine.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	s := &Store{db: db, ttl: opt.TTL, clk: opt.Clock}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS sessions(
		project TEXT NOT NULL,
		tool TEXT NOT NULL,
		session_id TEXT NOT NULL,
		model TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL,
		calls INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY(project, tool, session_id))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot create sessions table in %q: %w", path, err)
	}
	return s, nil
}

// DB returns the shared database handle (the vector-store layer keeps its tables there).
func (s *Store) DB() *sql.DB { return s.db }

// TTL returns the idle time after which a session expires.
func (s *Store) TTL() time.Duration { return s.ttl }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Get returns the session, or ok=false when it does not exist or has expired.
func (s *Store) Get(ctx context.Context, k Key) (rec *Record, ok bool, err error) {
	var state string
	var created, updated int64
	err = s.db.QueryRowContext(ctx, `SELECT state, created_at, updated_at FROM sessions
		WHERE project=? AND tool=? AND session_id=?`, k.Project, k.Tool, k.SessionID).Scan(&state, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read session %q of %s: %w", k.SessionID, k.Tool, err)
	}
	if s.expired(updated) {
		return nil, false, nil
	}
	rec = &Record{}
	if err := json.Unmarshal([]byte(state), rec); err != nil {
		return nil, false, fmt.Errorf("cannot decode session %q of %s: %w", k.SessionID, k.Tool, err)
	}
	rec.Key = k
	rec.CreatedAt = time.UnixMilli(created)
	rec.UpdatedAt = time.UnixMilli(updated)
	return rec, true, nil
}

// Put stores rec, setting UpdatedAt (and CreatedAt for a new session) to now.
func (s *Store) Put(ctx context.Context, rec *Record) error {
	now := s.clk.Now()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	rec.UpdatedAt = now
	state, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cannot encode session %q: %w", rec.SessionID, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions(project, tool, session_id, model, state, calls, created_at, updated_at)
		VALUES(?,?,?,?,?,?,?,?)
		ON CONFLICT(project, tool, session_id) DO UPDATE SET
		model=excluded.model, state=excluded.state, calls=excluded.calls, updated_at=excluded.updated_at`,
		rec.Project, rec.Tool, rec.SessionID, rec.Model, string(state), rec.Calls,
		rec.CreatedAt.UnixMilli(), rec.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("cannot save session %q of %s: %w", rec.SessionID, rec.Tool, err)
	}
	return nil
}

// List returns the live sessions of project ("" = all projects), newest first.
func (s *Store) List(ctx context.Context, project string) ([]Summary, error) {
	q := `SELECT project, tool, session_id, model, state, calls, created_at, updated_at FROM sessions
		WHERE updated_at >= ?`
	args := []any{s.clk.Now().Add(-s.ttl).UnixMilli()}
	if project != "" {
		q += ` AND project = ?`
		args = append(args, project)
	}
	q += ` ORDER BY updated_at DESC LIMIT 1000`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list sessions: %w", err)
	}
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		var sm Summary
		var state string
		var created, updated int64
		if err := rows.Scan(&sm.Project, &sm.Tool, &sm.SessionID, &sm.Model, &state, &sm.Calls, &created, &updated); err != nil {
			return nil, fmt.Errorf("cannot read session row: %w", err)
		}
		var rec Record
		if json.Unmarshal([]byte(state), &rec) == nil {
			sm.Inlined = len(rec.Inline)
		}
		sm.CreatedAt, sm.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
		sm.ExpiresAt = sm.UpdatedAt.Add(s.ttl)
		out = append(out, sm)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list sessions: %w", err)
	}
	return out, nil
}

// Cleanup deletes expired sessions and returns how many it deleted.
func (s *Store) Cleanup(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE updated_at < ?`, s.clk.Now().Add(-s.ttl).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("cannot delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RunCleanup deletes expired sessions every interval (scenario time) until
// ctx ends. Run it on a goroutine the caller owns and waits for.
func (s *Store) RunCleanup(ctx context.Context, interval time.Duration, onErr func(error)) {
	for {
		if err := clock.Sleep(ctx, s.clk, interval); err != nil {
			return
		}
		if _, err := s.Cleanup(ctx); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
	}
}

func (s *Store) expired(updatedMillis int64) bool {
	return time.UnixMilli(updatedMillis).Add(s.ttl).Before(s.clk.Now())
}
