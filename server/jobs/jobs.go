// Package jobs runs tool calls as jobs for hosts that give up on a call
// that stays silent (some kill a request after 60 s) or cannot show
// progress: start_job answers at once with an id, poll_job reports status,
// progress and, when done, the tool's result, cancel_job stops the work.
//
// Jobs live in SQLite. A job left queued or running by a server that is
// gone (killed, or stopped mid-job) is run again by the next server on the
// same database, from its recorded arguments; a finished job's result is
// kept for Options.Keep.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/procid"
)

// Job states.
const (
	Queued    = "queued"
	Running   = "running"
	Completed = "completed" // the tool answered (its result may still be a tool error)
	Failed    = "failed"    // the tool could not answer
	Cancelled = "cancelled"
)

// DefaultKeep is how long a finished job's result is kept.
const DefaultKeep = 24 * time.Hour

// Job is one job as poll_job shows it.
type Job struct {
	ID        string          `json:"job_id"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"-"`
	// ResponseID is the background response the job waits for, if any.
	ResponseID string          `json:"response_id,omitempty"`
	Status     string          `json:"status"`
	Progress   string          `json:"progress,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	Attempts   int             `json:"attempts"` // runs started (more than 1: resumed after a restart)
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// Run is one run of a job's tool call.
type Run struct {
	Tool      string
	Arguments json.RawMessage
	// Resume is the background response the job's previous run created (a
	// server killed while waiting for it): the runner polls it rather than
	// asking the model again.
	Resume string
	// Progress records what the call is doing; Created records a
	// background response it created.
	Progress func(string)
	Created  func(responseID string)
}

// Runner runs a job's tool call and returns its result.
type Runner func(ctx context.Context, r Run) (json.RawMessage, error)

// Options configure a Manager.
type Options struct {
	Clock clock.Clock   // nil: real time
	Keep  time.Duration // 0: DefaultKeep
}

// Manager runs and records jobs. Close stops the jobs it runs and waits for
// them.
type Manager struct {
	db    *sql.DB
	run   Runner
	opt   Options
	owner string // this process (procid), or a random id where /proc is missing

	ctx  context.Context // ends at Close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc
}

// errCancelled is the cause of a job cancelled by cancel_job.
var errCancelled = errors.New("cancelled by cancel_job")

// Open creates the jobs table if needed.
func Open(ctx context.Context, db *sql.DB, run Runner, opt Options) (*Manager, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Keep <= 0 {
		opt.Keep = DefaultKeep
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, tool TEXT NOT NULL,
		arguments TEXT NOT NULL, status TEXT NOT NULL, progress TEXT NOT NULL DEFAULT '', result TEXT, error TEXT NOT NULL DEFAULT '',
		owner TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, response_id TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("cannot create the jobs table: %w", err)
	}
	owner := procid.ID(os.Getpid())
	if owner == "" {
		owner = "anon:" + randomID()
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	return &Manager{db: db, run: run, opt: opt, owner: owner, ctx: mctx, stop: stop, running: map[string]context.CancelCauseFunc{}}, nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start records a job and starts it.
func (m *Manager) Start(ctx context.Context, tool string, args json.RawMessage) (Job, error) {
	now := m.opt.Clock.Now()
	if err := m.sweep(ctx, now); err != nil {
		return Job{}, err
	}
	j := Job{ID: "job_" + randomID(), Tool: tool, Arguments: args, Status: Queued, CreatedAt: now, UpdatedAt: now}
	if _, err := m.db.ExecContext(ctx, `INSERT INTO jobs (id, tool, arguments, status, owner, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, j.ID, tool, string(args), Queued, m.owner, now.UnixNano(), now.UnixNano()); err != nil {
		return Job{}, fmt.Errorf("cannot record job for %s: %w", tool, err)
	}
	m.launch(j)
	return j, nil
}

// Resume runs again the jobs a server that is gone left queued or running;
// it returns how many.
func (m *Manager) Resume(ctx context.Context) (int, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT id, tool, arguments, owner, response_id FROM jobs WHERE status IN (?, ?) AND owner != ?`,
		Queued, Running, m.owner)
	if err != nil {
		return 0, fmt.Errorf("cannot list unfinished jobs: %w", err)
	}
	var orphans []Job
	for rows.Next() {
		var j Job
		var args, owner string
		if err := rows.Scan(&j.ID, &j.Tool, &args, &owner, &j.ResponseID); err != nil {
			rows.Close()
			return 0, fmt.Errorf("cannot list unfinished jobs: %w", err)
		}
		if procid.Gone(owner) {
			j.Arguments = json.RawMessage(args)
			orphans = append(orphans, j)
		}
	}
	rows.Close()
	for _, j := range orphans {
		// Take it over only if no other new server did first.
		res, err := m.db.ExecContext(ctx, `UPDATE jobs SET owner = ?, status = ?, progress = 'resumed after a restart', updated_at = ?
			WHERE id = ? AND status IN (?, ?) AND owner != ?`, m.owner, Queued, m.opt.Clock.Now().UnixNano(), j.ID, Queued, Running, m.owner)
		if err != nil {
			return 0, fmt.Errorf("cannot take over job %s: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			m.launch(j)
		}
	}
	return len(orphans), nil
}

// launch runs j in a goroutine the manager owns.
func (m *Manager) launch(j Job) {
	ctx, cancel := context.WithCancelCause(m.ctx)
	m.mu.Lock()
	m.running[j.ID] = cancel
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.running, j.ID)
			m.mu.Unlock()
			cancel(nil)
		}()
		m.execute(ctx, j)
	}()
}

// execute runs one job and records how it ended. A job stopped by Close
// stays running in the table: the next server resumes it.
func (m *Manager) execute(ctx context.Context, j Job) {
	db := context.WithoutCancel(ctx) // its record is written even as it is cancelled
	now := m.opt.Clock.Now().UnixNano()
	if _, err := m.db.ExecContext(db, `UPDATE jobs SET status = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?`,
		Running, now, j.ID); err != nil {
		return
	}
	progress := func(p string) {
		_, _ = m.db.ExecContext(db, `UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND status = ?`,
			p, m.opt.Clock.Now().UnixNano(), j.ID, Running)
	}
	created := func(id string) {
		_, _ = m.db.ExecContext(db, `UPDATE jobs SET response_id = ?, updated_at = ? WHERE id = ?`, id, m.opt.Clock.Now().UnixNano(), j.ID)
	}
	result, err := m.run(ctx, Run{Tool: j.Tool, Arguments: j.Arguments, Resume: j.ResponseID, Progress: progress, Created: created})
	status, msg := Completed, ""
	switch {
	case errors.Is(context.Cause(ctx), errCancelled):
		status, msg = Cancelled, errCancelled.Error()
	case m.ctx.Err() != nil:
		return // server shutting down: left running for the next server
	case err != nil:
		status, msg = Failed, err.Error()
	}
	_, _ = m.db.ExecContext(db, `UPDATE jobs SET status = ?, result = ?, error = ?, updated_at = ? WHERE id = ?`,
		status, nullable(result), msg, m.opt.Clock.Now().UnixNano(), j.ID)
}

func nullable(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Get returns a job.
func (m *Manager) Get(ctx context.Context, id string) (Job, bool, error) {
	var j Job
	var result sql.NullString
	var created, updated int64
	err := m.db.QueryRowContext(ctx, `SELECT id, tool, status, progress, result, error, attempts, response_id, created_at, updated_at
		FROM jobs WHERE id = ?`, id).Scan(&j.ID, &j.Tool, &j.Status, &j.Progress, &result, &j.Error, &j.Attempts, &j.ResponseID, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("cannot read job %s: %w", id, err)
	}
	if result.Valid {
		j.Result = json.RawMessage(result.String)
	}
	j.CreatedAt, j.UpdatedAt = time.Unix(0, created), time.Unix(0, updated)
	return j, true, nil
}

// Cancel stops a job this server runs and records it cancelled; a job
// already finished is left as it is. It returns the job as it stands.
func (m *Manager) Cancel(ctx context.Context, id string) (Job, bool, error) {
	m.mu.Lock()
	cancel := m.running[id]
	m.mu.Unlock()
	if cancel != nil {
		cancel(errCancelled)
	}
	if _, err := m.db.ExecContext(ctx, `UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status IN (?, ?)`,
		Cancelled, errCancelled.Error(), m.opt.Clock.Now().UnixNano(), id, Queued, Running); err != nil {
		return Job{}, false, fmt.Errorf("cannot cancel job %s: %w", id, err)
	}
	return m.Get(ctx, id)
}

// sweep deletes finished jobs older than Keep.
func (m *Manager) sweep(ctx context.Context, now time.Time) error {
	if _, err := m.db.ExecContext(ctx, `DELETE FROM jobs WHERE status IN (?, ?, ?) AND updated_at < ?`,
		Completed, Failed, Cancelled, now.Add(-m.opt.Keep).UnixNano()); err != nil {
		return fmt.Errorf("cannot delete old jobs: %w", err)
	}
	return nil
}

// Close stops the running jobs (they stay recorded as running, for the next
// server to resume) and waits for them, at most until ctx ends.
func (m *Manager) Close(ctx context.Context) error {
	m.stop()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs did not stop: %w", ctx.Err())
	}
}
