package vectorstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/secondbrain-dev/secondbrain/server/procid"
)

// Errors returned by [Manager].
var (
	// ErrStoreLimit: the provider's vector-store cap is reached and no idle
	// store can be evicted. Returned at once instead of waiting: a full
	// project never frees a slot by itself.
	ErrStoreLimit = errors.New("vectorstore: vector store limit reached and no idle store can be evicted")
	// ErrClosed: the manager was closed.
	ErrClosed = errors.New("vectorstore: manager closed")
)

// Manager uploads files to vector stores, reuses and deduplicates them, and
// runs their lifecycle. Create it with [NewManager]; it is safe for
// concurrent use. Background work (deletes, detached creates, the TTL sweeper)
// belongs to the Manager and is waited for by [Manager.Close].
type Manager struct {
	client  openai.Client
	db      *sql.DB
	o       Options
	log     *slog.Logger
	install string // this database's identity, part of every store name
	owner   string // this run's identity, for crash detection

	// bgCtx bounds detached work (creates and deletes that must not die with
	// a request); cancelled by Close once its deadline is near, or by abandon.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup // detached work and the sweeper

	createSem chan struct{} // serialises the limit check + "creating" insert
	uploadSem chan struct{} // file uploads in flight, all calls (Options.MaxUploads)
	hashBufs  sync.Pool     // *[32 << 10]byte read buffers of hashFile
	kick      chan struct{} // asks the sweeper for an early pass

	mu          sync.Mutex
	closed      bool
	started     bool
	stopLoop    context.CancelFunc
	inUse       map[string]int           // nonce -> Attach calls using the store
	creating    map[string]bool          // nonces this run is creating right now
	uploads     map[int64]bool           // vs_files ids this run is uploading now
	sessions    map[string]chan struct{} // per-session one-slot semaphores
	deletes     map[string]chan struct{} // nonce -> closed when its delete ends
	pinned      map[string]int           // file ids an Attach is about to reuse
	fileDeletes map[string]bool          // file ids being deleted
}

var _ Attacher = (*Manager)(nil)

// NewManager creates the manager's tables (if missing) in db and returns it.
// client should have no special retry settings: every call made here sets
// its own (no SDK retries, per-attempt timeout). Call [Manager.Start] to run
// crash recovery and the TTL sweeper, and [Manager.Close] to stop.
func NewManager(ctx context.Context, client openai.Client, db *sql.DB, opts Options) (*Manager, error) {
	o := opts.withDefaults()
	if err := migrate(ctx, db); err != nil {
		return nil, err
	}
	install, err := installID(ctx, db)
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	m := &Manager{
		client: client, db: db, o: o, log: o.Logger.With("component", "vectorstore"),
		install: install, owner: randomHex(6),
		bgCtx: bg, bgCancel: cancel,
		createSem: make(chan struct{}, 1), uploadSem: make(chan struct{}, o.MaxUploads), kick: make(chan struct{}, 1),
		inUse: map[string]int{}, creating: map[string]bool{}, uploads: map[int64]bool{},
		sessions: map[string]chan struct{}{}, deletes: map[string]chan struct{}{},
		pinned: map[string]int{}, fileDeletes: map[string]bool{},
	}
	if _, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO vs_owners(owner, heartbeat, process) VALUES(?, ?, ?)`,
		m.owner, m.nowNanos(), procid.ID(os.Getpid())); err != nil {
		cancel()
		return nil, fmt.Errorf("cannot register vector-store manager: %w", err)
	}
	return m, nil
}

// Start runs the lifecycle loop: at once a recovery pass (stores and files a
// crashed run left behind, deletes that never finished), then a TTL sweep
// every SweepInterval of scenario time. The loop stops when ctx ends or at
// Close. Start returns immediately; calling it twice is an error.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.started {
		return errors.New("vectorstore: manager already started")
	}
	m.started = true
	lctx, cancel := context.WithCancel(ctx)
	m.stopLoop = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// Labelled so the harness's profiles classify it as background work.
		pprof.Do(lctx, pprof.Labels("path", "background", "component", "lifecycle"), m.loop)
	}()
	return nil
}

// Close stops the sweeper, lets running deletes and creates finish until ctx
// ends, then cancels what is left and waits for every goroutine to return.
// Unfinished deletes stay recorded and are retried by the next run. Close
// returns ctx.Err() if it had to cancel work.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.stopLoop != nil {
		m.stopLoop()
	}
	m.mu.Unlock()

	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("vectorstore: close cancelled pending deletes: %w", ctx.Err())
		m.bgCancel()
		<-done
	}
	m.bgCancel()
	// A fresh context: the row must go even when ctx has ended, or the next
	// run waits for this owner's heartbeat to go stale before cleaning up.
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, derr := m.db.ExecContext(dctx, `DELETE FROM vs_owners WHERE owner=?`, m.owner); derr != nil && err == nil {
		err = fmt.Errorf("cannot unregister vector-store manager: %w", derr)
	}
	return err
}

// goBackground runs fn as detached work owned by the manager, on bgCtx
// rather than a request's context. It refuses (false) once Close has begun,
// so Close's wait never races with a new Add.
func (m *Manager) goBackground(fn func(ctx context.Context)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		fn(m.bgCtx)
	}()
	return true
}

// lockSession serialises Attach calls of one session, so two concurrent calls
// never create two stores for it. Waiting obeys ctx.
func (m *Manager) lockSession(ctx context.Context, key string) (func(), error) {
	m.mu.Lock()
	ch, ok := m.sessions[key]
	if !ok {
		ch = make(chan struct{}, 1)
		m.sessions[key] = ch
	}
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *Manager) acquire(nonce string) {
	m.mu.Lock()
	m.inUse[nonce]++
	m.mu.Unlock()
}

func (m *Manager) release(nonce string) {
	m.mu.Lock()
	if m.inUse[nonce]--; m.inUse[nonce] <= 0 {
		delete(m.inUse, nonce)
	}
	m.mu.Unlock()
}

func (m *Manager) isInUse(nonce string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inUse[nonce] > 0
}

func (m *Manager) touch(ctx context.Context, nonce string) error {
	if _, err := m.db.ExecContext(ctx, `UPDATE vs_stores SET last_used=? WHERE nonce=?`, m.nowNanos(), nonce); err != nil {
		return fmt.Errorf("cannot record use of store %s: %w", nonce, err)
	}
	return nil
}

// Search queries each store (concurrently, at most Concurrency at a time) and
// returns the hits merged by descending score, at most maxResults of them
// (maxResults <= 0 means 10). A store that fails is logged and skipped unless
// every store fails; a store the provider no longer has is forgotten and
// skipped (see [Manager.SearchReport]).
func (m *Manager) Search(ctx context.Context, vectorStoreIDs []string, query string, maxResults int) ([]SearchHit, error) {
	r, err := m.SearchReport(ctx, vectorStoreIDs, query, maxResults)
	return r.Hits, err
}

// SearchResult is what [Manager.SearchReport] found.
type SearchResult struct {
	Hits []SearchHit `json:"hits"`
	// Missing are stores the provider no longer has (404): their records
	// were dropped and they were skipped.
	Missing []string `json:"missing_stores,omitempty"`
}

// SearchReport is Search that also names the stores found missing. A
// missing store is not an error (one vanished memory store must not fail a
// search over all of them); other failures are skipped unless every store
// that exists fails.
func (m *Manager) SearchReport(ctx context.Context, vectorStoreIDs []string, query string, maxResults int) (SearchResult, error) {
	if maxResults <= 0 {
		maxResults = 10
	}
	ids := slices.Compact(slices.Sorted(slices.Values(vectorStoreIDs)))
	if len(ids) == 0 || query == "" {
		return SearchResult{Hits: []SearchHit{}}, nil
	}
	type result struct {
		hits []SearchHit
		err  error
	}
	results := make([]result, len(ids))
	sem := make(chan struct{}, m.o.Concurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			results[i].hits, results[i].err = m.searchOne(ctx, id, query, maxResults)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return SearchResult{}, fmt.Errorf("cannot search vector stores: %w", err)
	}
	out := SearchResult{Hits: []SearchHit{}}
	var errs []error
	for i, r := range results {
		switch {
		case r.err != nil && isNotFound(r.err):
			out.Missing = append(out.Missing, ids[i])
			if err := m.forgetStoreID(ctx, ids[i]); err != nil {
				m.log.Warn("cannot forget vanished vector store", "store", ids[i], "err", err)
			} else {
				m.log.Warn("vector store vanished at the provider; skipped in search", "store", ids[i])
			}
		case r.err != nil:
			m.log.Warn("vector store search failed", "store", ids[i], "err", r.err)
			errs = append(errs, r.err)
		default:
			out.Hits = append(out.Hits, r.hits...)
		}
	}
	if len(errs) > 0 && len(errs) == len(ids)-len(out.Missing) {
		return out, errors.Join(errs...)
	}
	slices.SortStableFunc(out.Hits, func(a, b SearchHit) int { return cmp.Compare(b.Score, a.Score) })
	if len(out.Hits) > maxResults {
		out.Hits = out.Hits[:maxResults]
	}
	return out, nil
}

func (m *Manager) searchOne(ctx context.Context, storeID, query string, maxResults int) ([]SearchHit, error) {
	var hits []SearchHit
	err := m.retry(ctx, func(ctx context.Context) error {
		page, err := m.client.VectorStores.Search(ctx, storeID, openai.VectorStoreSearchParams{
			Query:         openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String(query)},
			MaxNumResults: openai.Int(int64(min(maxResults, 50))),
		}, m.opts()...)
		if err != nil {
			return fmt.Errorf("cannot search vector store %s: %w", storeID, err)
		}
		hits = hits[:0]
		for _, r := range page.Data {
			var text string
			for _, c := range r.Content {
				text += c.Text
			}
			hits = append(hits, SearchHit{FileID: r.FileID, Filename: r.Filename, Score: r.Score, Text: text})
		}
		return nil
	})
	return hits, err
}

// SessionInfo describes a session's vector store (for describe_session).
type SessionInfo struct {
	VectorStoreID string    `json:"vector_store_id"`
	Files         int       `json:"files"`
	LastUsed      time.Time `json:"last_used"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// DescribeSession returns the session's live store, if it has one.
func (m *Manager) DescribeSession(ctx context.Context, project, tool, sessionID string) (SessionInfo, bool, error) {
	st, found, err := m.sessionStore(ctx, AttachRequest{Project: project, Tool: tool, SessionID: sessionID})
	if err != nil || !found {
		return SessionInfo{}, false, err
	}
	var n int
	if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_store_files WHERE nonce=?`, st.Nonce).Scan(&n); err != nil {
		return SessionInfo{}, false, fmt.Errorf("cannot count files of store %s: %w", st.StoreID, err)
	}
	return SessionInfo{VectorStoreID: st.StoreID, Files: n, LastUsed: st.LastUsed, ExpiresAt: st.LastUsed.Add(m.o.StoreTTL)}, true, nil
}
