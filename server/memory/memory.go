package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/redact"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// Memory store types.
const (
	TypeConversations = "conversations"
	TypeCommits       = "commits"
)

// Defaults applied by [New] to zero-valued [Options] fields.
const (
	DefaultQueueSize      = 64
	DefaultCommitInterval = time.Hour
	DefaultGitTimeout     = 10 * time.Second
	DefaultMaxCommits     = 200
	DefaultWriteTimeout   = 2 * time.Minute
	DefaultMaxResults     = 10
	// maxQuestion and maxAnswer bound what one summary keeps of each side.
	maxQuestion = 4000
	maxAnswer   = 8000
)

// Memory is what the server's tool handlers use.
type Memory interface {
	// Remember enqueues a finished exchange without waiting; false means it
	// was dropped (queue full or closed) and counted.
	Remember(ex Exchange) bool
	// SearchHistory searches the project's memory stores of storeTypes
	// (none = all) with each query (each also split on ';') and returns at
	// most maxResults hits by descending score.
	SearchHistory(ctx context.Context, project string, queries []string, maxResults int, storeTypes []string) ([]vectorstore.SearchHit, error)
}

// Exchange is one successful tool call worth remembering.
type Exchange struct {
	Project   string // absolute project root
	Tool      string
	SessionID string
	Model     string
	Question  string // the instructions sent
	Answer    string // the model's reply
	At        time.Time
}

// Store is what the writer needs from the vector-store layer;
// *vectorstore.Manager implements it.
type Store interface {
	AddDocument(ctx context.Context, project, memType, name string, content []byte) error
	MemoryStoreIDs(ctx context.Context, project string, types []string) ([]string, error)
	// SearchReport searches the stores, skipping (and naming) those the
	// provider no longer has instead of failing.
	SearchReport(ctx context.Context, vectorStoreIDs []string, query string, maxResults int) (vectorstore.SearchResult, error)
}

var _ Store = (*vectorstore.Manager)(nil)

// Options configure a [Writer]; zero fields mean the defaults.
type Options struct {
	Clock  clock.Clock
	Logger *slog.Logger
	// QueueSize bounds exchanges waiting to be written. Default 64.
	QueueSize int
	// CommitInterval between git-log snapshots of each project seen.
	// Default 1 h; negative disables commit logging.
	CommitInterval time.Duration
	// GitTimeout bounds one `git log`. Default 10 s.
	GitTimeout time.Duration
	// MaxCommits per snapshot. Default 200.
	MaxCommits int
	// WriteTimeout bounds storing one document. Default 2 min.
	WriteTimeout time.Duration
	// Redact lists literal secrets (e.g. the configured API keys) to mask.
	Redact []string
	// Git is the git executable. Default "git".
	Git string
}

// Stats counts the writer's work.
type Stats struct {
	Enqueued, Written, Dropped, Failed, CommitSnapshots int64
}

// Writer is the background memory writer. Create it with [New], run it with
// [Writer.Start], stop it with [Writer.Close]. Safe for concurrent use.
type Writer struct {
	store Store
	o     Options
	log   *slog.Logger
	redac *redact.Redactor

	queue chan Exchange
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	started  bool
	cancel   context.CancelFunc
	projects map[string]string // project -> last commit hash stored

	enqueued, written, dropped, failed, snapshots atomic.Int64
}

var _ Memory = (*Writer)(nil)

// New returns a writer storing into store. Nothing runs until Start.
func New(store Store, o Options) *Writer {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.GitTimeout <= 0 {
		o.GitTimeout = DefaultGitTimeout
	}
	if o.MaxCommits <= 0 {
		o.MaxCommits = DefaultMaxCommits
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Git == "" {
		o.Git = "git"
	}
	return &Writer{
		store: store, o: o, log: o.Logger.With("component", "memory"), redac: redact.New(o.Redact...),
		queue: make(chan Exchange, o.QueueSize), stop: make(chan struct{}), projects: map[string]string{},
	}
}

// Start launches the writer goroutine; it runs until Close (or ctx ends).
func (w *Writer) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("memory: writer closed")
	}
	if w.started {
		return errors.New("memory: writer already started")
	}
	w.started = true
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		// Labelled so the harness's profiles classify it as background work.
		pprof.Do(ctx, pprof.Labels("path", "background", "component", "memory"), w.run)
	}()
	return nil
}

// Close stops accepting exchanges, writes what is queued until ctx ends,
// then abandons the rest (counted as dropped) and waits for the goroutine.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.stop)
	cancel, started := w.cancel, w.started
	w.mu.Unlock()
	if !started {
		w.dropped.Add(int64(len(w.queue)))
		return nil
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		cancel()
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return fmt.Errorf("memory: close abandoned queued writes: %w", ctx.Err())
	}
}

// Remember enqueues ex for the writer and returns at once.
func (w *Writer) Remember(ex Exchange) bool {
	w.mu.Lock()
	defer w.mu.Unlock() // held only for a non-blocking send
	if w.closed {
		w.dropped.Add(1)
		return false
	}
	select {
	case w.queue <- ex:
		w.enqueued.Add(1)
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() Stats {
	return Stats{Enqueued: w.enqueued.Load(), Written: w.written.Load(), Dropped: w.dropped.Load(),
		Failed: w.failed.Load(), CommitSnapshots: w.snapshots.Load()}
}

func (w *Writer) run(ctx context.Context) {
	var tick clock.Timer
	var tickC <-chan time.Time
	arm := func() {
		if w.o.CommitInterval > 0 {
			tick = w.o.Clock.NewTimer(w.o.CommitInterval)
			tickC = tick.C()
		}
	}
	arm()
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			w.dropped.Add(int64(len(w.queue)))
			return
		case <-w.stop:
			// Drain what was accepted; ctx (cancelled by Close's deadline) bounds it.
			for {
				select {
				case ex := <-w.queue:
					w.write(ctx, ex)
				default:
					return
				}
			}
		case ex := <-w.queue:
			w.write(ctx, ex)
		case <-tickC:
			w.snapshotCommits(ctx)
			arm()
		}
	}
}

func (w *Writer) write(ctx context.Context, ex Exchange) {
	if ctx.Err() != nil {
		w.dropped.Add(1)
		return
	}
	w.mu.Lock()
	_, seen := w.projects[ex.Project]
	if !seen {
		w.projects[ex.Project] = ""
	}
	w.mu.Unlock()
	if !seen && w.o.CommitInterval > 0 {
		w.snapshotProject(ctx, ex.Project) // first sight: take the log now
	}
	if ex.At.IsZero() {
		ex.At = w.o.Clock.Now()
	}
	doc := w.redac.RedactString(summary(ex))
	name := fmt.Sprintf("conversation-%s-%s.md", ex.At.UTC().Format("20060102T150405.000000000Z"), safeName(ex.SessionID))
	wctx, cancel := context.WithTimeout(ctx, w.o.WriteTimeout)
	defer cancel()
	if err := w.store.AddDocument(wctx, ex.Project, TypeConversations, name, []byte(doc)); err != nil {
		w.failed.Add(1)
		w.log.Warn("cannot store conversation memory", "project", ex.Project, "session", ex.SessionID, "err", err)
		return
	}
	w.written.Add(1)
}

func summary(ex Exchange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conversation %s\n\ntool: %s\nmodel: %s\nsession: %s\nproject: %s\n\n## Question\n\n%s\n\n## Answer\n\n%s\n",
		ex.At.UTC().Format(time.RFC3339), ex.Tool, ex.Model, ex.SessionID, ex.Project,
		clip(ex.Question, maxQuestion), clip(ex.Answer, maxAnswer))
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n…(truncated)"
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return clip(unsafeName.ReplaceAllString(s, "_"), 64) }

// snapshotCommits stores new commits of every project seen so far.
func (w *Writer) snapshotCommits(ctx context.Context) {
	w.mu.Lock()
	projects := make([]string, 0, len(w.projects))
	for p := range w.projects {
		projects = append(projects, p)
	}
	w.mu.Unlock()
	slices.Sort(projects)
	for _, p := range projects {
		if ctx.Err() != nil {
			return
		}
		w.snapshotProject(ctx, p)
	}
}

// snapshotProject runs `git log` (bounded by GitTimeout) and stores the
// commits newer than the last snapshot as one document.
func (w *Writer) snapshotProject(ctx context.Context, project string) {
	w.mu.Lock()
	last := w.projects[project]
	w.mu.Unlock()
	gctx, cancel := context.WithTimeout(ctx, w.o.GitTimeout)
	defer cancel()
	args := []string{"-C", project, "log", "--no-color", fmt.Sprintf("-n%d", w.o.MaxCommits),
		"--date=iso-strict", "--pretty=format:%H%x09%ad%x09%an%x09%s"}
	if last != "" {
		args = append(args, last+"..HEAD")
	}
	cmd := exec.CommandContext(gctx, w.o.Git, args...)
	cmd.WaitDelay = time.Second // never hang on a child holding the pipe
	out, err := cmd.Output()
	if err != nil {
		w.log.Debug("no git log for project", "project", project, "err", err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return
	}
	head, _, _ := strings.Cut(lines[0], "\t")
	var b strings.Builder
	fmt.Fprintf(&b, "# Commits of %s (snapshot %s)\n\n", project, w.o.Clock.Now().UTC().Format(time.RFC3339))
	for _, l := range lines {
		f := strings.SplitN(l, "\t", 4)
		if len(f) == 4 {
			fmt.Fprintf(&b, "- %s %s %s: %s\n", f[0][:min(12, len(f[0]))], f[1], f[2], f[3])
		}
	}
	name := fmt.Sprintf("commits-%s-%s.md", w.o.Clock.Now().UTC().Format("20060102T150405Z"), head[:min(12, len(head))])
	wctx, wcancel := context.WithTimeout(ctx, w.o.WriteTimeout)
	defer wcancel()
	if err := w.store.AddDocument(wctx, project, TypeCommits, name, []byte(w.redac.RedactString(b.String()))); err != nil {
		w.failed.Add(1)
		w.log.Warn("cannot store commit log", "project", project, "err", err)
		return
	}
	w.snapshots.Add(1)
	w.mu.Lock()
	w.projects[project] = head
	w.mu.Unlock()
}

// ErrUnknownStoreType is returned for a store type that is not one of
// [StoreTypes] (singular forms are accepted too).
var ErrUnknownStoreType = errors.New("unknown memory store type")

// StoreTypes are the memory store types, as search_project_history takes them.
func StoreTypes() []string { return []string{TypeConversations, TypeCommits} }

// NormalizeStoreTypes maps "conversation"/"conversations" and
// "commit"/"commits" (any case) to the store types and refuses anything
// else, naming the valid values: a typo must not silently search nothing.
func NormalizeStoreTypes(types []string) ([]string, error) {
	var out []string
	for _, t := range types {
		var n string
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "conversation", TypeConversations:
			n = TypeConversations
		case "commit", TypeCommits:
			n = TypeCommits
		default:
			return nil, fmt.Errorf("%w %q: want %q or %q", ErrUnknownStoreType, t, "conversation", "commit")
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// HistoryResult is what [Writer.SearchHistoryReport] found.
type HistoryResult struct {
	Hits []vectorstore.SearchHit `json:"results"`
	// MissingStores are memory stores the provider no longer has: they were
	// skipped and forgotten (the next write creates a new one).
	MissingStores []string `json:"missing_stores,omitempty"`
}

// SearchHistory implements [Memory].
func (w *Writer) SearchHistory(ctx context.Context, project string, queries []string, maxResults int, storeTypes []string) ([]vectorstore.SearchHit, error) {
	r, err := w.SearchHistoryReport(ctx, project, queries, maxResults, storeTypes)
	return r.Hits, err
}

// SearchHistoryReport searches like SearchHistory and also names the memory
// stores that vanished at the provider; those never fail the search.
func (w *Writer) SearchHistoryReport(ctx context.Context, project string, queries []string, maxResults int, storeTypes []string) (HistoryResult, error) {
	out := HistoryResult{Hits: []vectorstore.SearchHit{}}
	if maxResults <= 0 {
		maxResults = DefaultMaxResults
	}
	storeTypes, err := NormalizeStoreTypes(storeTypes)
	if err != nil {
		return out, err
	}
	if len(storeTypes) == 0 {
		storeTypes = StoreTypes()
	}
	ids, err := w.store.MemoryStoreIDs(ctx, project, storeTypes)
	if err != nil {
		return out, fmt.Errorf("cannot list memory stores of %q: %w", project, err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	type key struct{ file, text string }
	best := map[key]vectorstore.SearchHit{}
	for _, q := range SplitQueries(queries) {
		res, err := w.store.SearchReport(ctx, ids, q, maxResults)
		if err != nil {
			return out, fmt.Errorf("cannot search project history for %q: %w", q, err)
		}
		for _, m := range res.Missing {
			if !slices.Contains(out.MissingStores, m) {
				out.MissingStores = append(out.MissingStores, m)
			}
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == m })
		}
		for _, h := range res.Hits {
			k := key{h.FileID, h.Text}
			if old, ok := best[k]; !ok || h.Score > old.Score {
				best[k] = h
			}
		}
		if len(ids) == 0 {
			break
		}
	}
	for _, h := range best {
		out.Hits = append(out.Hits, h)
	}
	slices.SortFunc(out.Hits, func(a, b vectorstore.SearchHit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.FileID, b.FileID)
	})
	out.Hits = out.Hits[:min(len(out.Hits), maxResults)]
	return out, nil
}

// SplitQueries splits each query on ';', trims, and drops empty and
// duplicate parts.
func SplitQueries(queries []string) []string {
	var out []string
	for _, q := range queries {
		for _, p := range strings.Split(q, ";") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
