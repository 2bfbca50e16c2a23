package vectorstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/secondbrain-dev/secondbrain/server/procid"
)

// loop is the in-process "Loiter Killer": a recovery pass at start, then a
// sweep every SweepInterval of scenario time (or when kicked).
func (m *Manager) loop(ctx context.Context) {
	m.sweep(ctx, true)
	for {
		t := m.o.Clock.NewTimer(m.o.SweepInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-m.kick:
			t.Stop()
		}
		m.sweep(ctx, false)
	}
}

// Kick asks the lifecycle loop for a sweep now (for tests and for the
// server's debug endpoint). It never blocks.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// sweep finds work and schedules it; the deletes themselves run detached.
func (m *Manager) sweep(ctx context.Context, startup bool) {
	if err := m.sweepOnce(ctx, startup); err != nil && ctx.Err() == nil {
		m.log.Warn("vector store sweep failed", "err", err)
	}
}

func (m *Manager) sweepOnce(ctx context.Context, startup bool) error {
	now := m.nowNanos()
	if _, err := m.db.ExecContext(ctx, `UPDATE vs_owners SET heartbeat=? WHERE owner=?`, now, m.owner); err != nil {
		return fmt.Errorf("cannot write heartbeat: %w", err)
	}
	live, err := m.liveOwners(ctx, now)
	if err != nil {
		return err
	}

	// Deletes that never finished (crash, Close deadline, provider errors).
	deleting, err := m.queryStores(ctx, `state=?`, stateDeleting)
	if err != nil {
		return err
	}
	for _, r := range deleting {
		m.scheduleDelete(r.Nonce)
	}

	// Session stores past their TTL.
	expired, err := m.queryStores(ctx, `kind=? AND state=? AND last_used<?`, kindSession, stateLive, now-int64(m.o.StoreTTL))
	if err != nil {
		return err
	}
	for _, r := range expired {
		if m.isInUse(r.Nonce) {
			continue
		}
		m.log.Info("vector store expired", "store", r.StoreID, "project", r.Project, "session", r.SessionID, "idle", m.o.Clock.Now().Sub(r.LastUsed))
		m.evict(ctx, r.Nonce)
	}

	// Empty stores a dead run created (killed before its files were
	// attached): nothing in them to keep; a session that continues gets a
	// new one. Only while no other server runs on this database: another
	// one may be filling such a store for a session it continues.
	empty, err := m.queryStores(ctx, `state=? AND owner<>? AND NOT EXISTS (SELECT 1 FROM vs_store_files f WHERE f.nonce=vs_stores.nonce)`,
		stateLive, m.owner)
	if err != nil {
		return err
	}
	for _, r := range empty {
		if len(live) == 1 && !live[r.Owner] && !m.isInUse(r.Nonce) {
			m.log.Info("deleting an empty vector store a stopped run left", "store", r.StoreID, "owner", r.Owner)
			m.evict(ctx, r.Nonce)
		}
	}

	// "creating" records whose creator is gone: the store may exist at the
	// provider without us knowing its id.
	creating, err := m.queryStores(ctx, `state=?`, stateCreating)
	if err != nil {
		return err
	}
	var left []storeRow
	for _, r := range creating {
		if m.leftover(r.Owner, live, func() bool { return m.creating[r.Nonce] }) {
			left = append(left, r)
		}
	}
	if startup || len(left) > 0 {
		if err := m.reconcileStores(ctx, left); err != nil {
			m.log.Warn("cannot reconcile vector stores with the provider", "err", err)
		}
	}
	return m.sweepFiles(ctx, now, live)
}

// liveOwners returns the managers (this one included) whose heartbeat is
// recent and whose process, when it is known, still runs: a killed run's
// records are leftovers at once, not after its heartbeat goes stale.
func (m *Manager) liveOwners(ctx context.Context, now int64) (map[string]bool, error) {
	stale := now - 3*int64(m.o.SweepInterval)
	rows, err := m.db.QueryContext(ctx, `SELECT owner, process FROM vs_owners WHERE heartbeat>=? OR owner=?`, stale, m.owner)
	if err != nil {
		return nil, fmt.Errorf("cannot read manager heartbeats: %w", err)
	}
	defer rows.Close()
	live := map[string]bool{}
	for rows.Next() {
		var o, proc string
		if err := rows.Scan(&o, &proc); err != nil {
			return nil, fmt.Errorf("cannot read manager heartbeats: %w", err)
		}
		if o != m.owner && procid.Gone(proc) {
			continue
		}
		live[o] = true
	}
	return live, rows.Err()
}

// leftover reports whether a record in flight belongs to no running work:
// its owner stopped heartbeating (crashed) or closed, or it is this run's and
// not in progress here (an outcome that was never learnt).
func (m *Manager) leftover(owner string, live map[string]bool, mineActive func() bool) bool {
	if owner != m.owner {
		return !live[owner]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return !mineActive()
}

// reconcileStores lists the provider's stores carrying this database's name
// prefix. Leftover "creating" records are resolved (store deleted, or record
// dropped if the store never came to be), and prefixed stores with no record
// at all are deleted: nothing else could be using them.
func (m *Manager) reconcileStores(ctx context.Context, left []storeRow) error {
	prefix := m.namePrefix()
	found := map[string]string{} // nonce -> store id
	pager := m.client.VectorStores.ListAutoPaging(ctx, openai.VectorStoreListParams{Limit: openai.Int(100)}, m.opts()...)
	for pager.Next() {
		s := pager.Current()
		if nonce, ok := strings.CutPrefix(s.Name, prefix); ok {
			found[nonce] = s.ID
		}
	}
	if err := pager.Err(); err != nil {
		return fmt.Errorf("cannot list vector stores: %w", err)
	}
	for _, r := range left {
		id, ok := found[r.Nonce]
		if !ok {
			if _, err := m.db.ExecContext(ctx, `DELETE FROM vs_stores WHERE nonce=? AND state=?`, r.Nonce, stateCreating); err != nil {
				return fmt.Errorf("cannot drop record of store %s: %w", r.Nonce, err)
			}
			continue
		}
		// Only if still "creating": the record was read before the listing,
		// and a create of this run may have finished since (then it is live
		// and in use — deleting it made the session's first batch 404).
		res, err := m.db.ExecContext(ctx, `UPDATE vs_stores SET store_id=?, state=? WHERE nonce=? AND state=?`, id, stateDeleting, r.Nonce, stateCreating)
		if err != nil {
			return fmt.Errorf("cannot mark store %s for deletion: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		m.log.Info("deleting vector store left behind by a crashed run", "store", id)
		m.scheduleDelete(r.Nonce)
	}
	for nonce, id := range found {
		var n int
		if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_stores WHERE nonce=?`, nonce).Scan(&n); err != nil {
			return fmt.Errorf("cannot look up store %s: %w", id, err)
		}
		if n > 0 {
			continue
		}
		m.log.Info("deleting unrecorded vector store", "store", id)
		now := m.nowNanos()
		if _, err := m.db.ExecContext(ctx, `INSERT INTO vs_stores(nonce, store_id, kind, project, state, created_at, last_used, owner)
			VALUES(?, ?, ?, '', ?, ?, ?, ?)`, nonce, id, kindSession, stateDeleting, now, now, m.owner); err != nil {
			return fmt.Errorf("cannot record orphan store %s: %w", id, err)
		}
		m.scheduleDelete(nonce)
	}
	return nil
}

// sweepFiles deletes uploaded files no store references any more (replaced by
// a changed version, or uploaded by a call that never attached them) and
// resolves "uploading" records of crashed runs.
func (m *Manager) sweepFiles(ctx context.Context, now int64, live map[string]bool) error {
	// A live run's upload may wait a while between upload and attach: only
	// old ones of a live run are leftovers. A dead run's are, whatever age:
	// other runs' fresh ones are read too, and those of live runs skipped.
	old := now - int64(m.o.CreateGrace)
	rows, err := m.db.QueryContext(ctx, `SELECT f.id, f.file_id, f.upload_name, f.state, f.owner, f.created_at FROM vs_files f
		WHERE (f.created_at<? OR f.owner<>?) AND NOT EXISTS (SELECT 1 FROM vs_store_files s WHERE s.file_id=f.file_id AND f.file_id<>'')`,
		old, m.owner)
	if err != nil {
		return fmt.Errorf("cannot query unattached files: %w", err)
	}
	type fileRec struct {
		id, created                int64
		fileID, name, state, owner string
	}
	var recs []fileRec
	for rows.Next() {
		var r fileRec
		if err := rows.Scan(&r.id, &r.fileID, &r.name, &r.state, &r.owner, &r.created); err != nil {
			rows.Close()
			return fmt.Errorf("cannot scan unattached files: %w", err)
		}
		if r.created >= old && live[r.owner] {
			continue
		}
		recs = append(recs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read unattached files: %w", err)
	}
	var lost []fileRec // uploads whose provider id we never learnt
	for _, r := range recs {
		if !m.leftover(r.owner, live, func() bool { return m.uploads[r.id] || m.pinned[r.fileID] > 0 }) {
			continue
		}
		if r.state == stateUploading && r.fileID == "" {
			lost = append(lost, r)
			continue
		}
		m.deleteFileLater(r.fileID)
	}
	if len(lost) == 0 {
		return nil
	}
	// The upload may have reached the provider: find it by name among files
	// we have no record of.
	byName := map[string][]int64{}
	for _, r := range lost {
		byName[r.name] = append(byName[r.name], r.id)
	}
	found := map[string]bool{}
	// One page of up to 10,000 (the API's maximum): deletes run detached
	// while this lists, and a later page's cursor may name a file already
	// gone; whether the provider still pages on from it is not documented.
	pager := m.client.Files.ListAutoPaging(ctx, openai.FileListParams{
		Purpose: openai.String(string(openai.FilePurposeAssistants)), Limit: openai.Int(10000)}, m.opts()...)
	for pager.Next() {
		f := pager.Current()
		if len(byName[f.Filename]) == 0 {
			continue
		}
		var n int
		if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_files WHERE file_id=?`, f.ID).Scan(&n); err != nil {
			return fmt.Errorf("cannot look up file %s: %w", f.ID, err)
		}
		if n == 0 {
			m.log.Info("deleting file left behind by a crashed upload", "file", f.ID, "name", f.Filename)
			m.deleteFileLater(f.ID)
			found[f.Filename] = true
		}
	}
	if err := pager.Err(); err != nil {
		return fmt.Errorf("cannot list files: %w", err)
	}
	for _, r := range lost {
		if !found[r.name] {
			m.log.Info("dropping record of a crashed upload that never reached the provider", "name", r.name, "record", r.id)
		}
		if _, err := m.db.ExecContext(ctx, `DELETE FROM vs_files WHERE id=?`, r.id); err != nil {
			return fmt.Errorf("cannot drop upload record %d: %w", r.id, err)
		}
	}
	return nil
}

// evict marks a store for deletion and schedules it.
func (m *Manager) evict(ctx context.Context, nonce string) <-chan struct{} {
	if _, err := m.db.ExecContext(ctx, `UPDATE vs_stores SET state=? WHERE nonce=?`, stateDeleting, nonce); err != nil {
		m.log.Warn("cannot mark store for deletion", "nonce", nonce, "err", err)
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return m.scheduleDelete(nonce)
}

// scheduleDelete starts (once) the detached delete of a store marked
// "deleting" and returns a channel closed when that attempt ends. Deletes
// never run on a request's context: a cancelled request must not abandon a
// delete half-way (a cancelled delete was suspected of leaving the original
// server's upload semaphore held).
func (m *Manager) scheduleDelete(nonce string) <-chan struct{} {
	m.mu.Lock()
	if ch, ok := m.deletes[nonce]; ok {
		m.mu.Unlock()
		return ch
	}
	ch := make(chan struct{})
	m.deletes[nonce] = ch
	m.mu.Unlock()
	finish := func() {
		m.mu.Lock()
		delete(m.deletes, nonce)
		m.mu.Unlock()
		close(ch)
	}
	if !m.goBackground(func(ctx context.Context) {
		defer finish()
		if err := m.deleteStore(ctx, nonce); err != nil {
			m.log.Warn("vector store delete failed; will retry", "nonce", nonce, "err", err)
		}
	}) {
		finish()
	}
	return ch
}

// deleteStore deletes the store at the provider, then the files no other
// store references, then the records.
func (m *Manager) deleteStore(ctx context.Context, nonce string) error {
	rs, err := m.queryStores(ctx, `nonce=?`, nonce)
	if err != nil || len(rs) == 0 {
		return err
	}
	r := rs[0]
	if r.StoreID != "" {
		if err := m.deleteProviderStore(ctx, r.StoreID); err != nil {
			return err
		}
	}
	files, err := m.storeFiles(ctx, nonce)
	if err != nil {
		return err
	}
	if _, err := m.db.ExecContext(ctx, `DELETE FROM vs_store_files WHERE nonce=?`, nonce); err != nil {
		return fmt.Errorf("cannot drop file records of store %s: %w", r.StoreID, err)
	}
	var errs []error
	for _, f := range files {
		if err := m.deleteFileIfUnused(ctx, f.FileID); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := m.db.ExecContext(ctx, `DELETE FROM vs_stores WHERE nonce=?`, nonce); err != nil {
		errs = append(errs, fmt.Errorf("cannot drop record of store %s: %w", r.StoreID, err))
	}
	if len(errs) == 0 {
		m.log.Info("vector store deleted", "store", r.StoreID, "files", len(files))
	}
	return errors.Join(errs...)
}

// deleteFileIfUnused deletes an uploaded file that no store references and no
// running Attach is about to reuse. Files are deleted with their last store
// so that nothing accumulates at the provider (the original server's account
// once held 41,002 files nobody deleted);
// dedup therefore spans the stores alive at a time, and survives restarts.
func (m *Manager) deleteFileIfUnused(ctx context.Context, fileID string) error {
	if fileID == "" {
		return nil
	}
	m.mu.Lock()
	pinned := m.pinned[fileID] > 0
	m.mu.Unlock()
	if pinned {
		return nil
	}
	var n int
	if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_store_files WHERE file_id=?`, fileID).Scan(&n); err != nil {
		return fmt.Errorf("cannot count references to file %s: %w", fileID, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := m.db.ExecContext(ctx, `UPDATE vs_files SET state=? WHERE file_id=?`, stateDeleting, fileID); err != nil {
		return fmt.Errorf("cannot mark file %s for deletion: %w", fileID, err)
	}
	if err := m.deleteProviderFile(ctx, fileID); err != nil {
		return err
	}
	if _, err := m.db.ExecContext(ctx, `DELETE FROM vs_files WHERE file_id=?`, fileID); err != nil {
		return fmt.Errorf("cannot drop record of file %s: %w", fileID, err)
	}
	return nil
}

// deleteFileLater runs deleteFileIfUnused detached.
func (m *Manager) deleteFileLater(fileID string) {
	m.mu.Lock()
	if m.fileDeletes[fileID] {
		m.mu.Unlock()
		return
	}
	m.fileDeletes[fileID] = true
	m.mu.Unlock()
	done := func() {
		m.mu.Lock()
		delete(m.fileDeletes, fileID)
		m.mu.Unlock()
	}
	if !m.goBackground(func(ctx context.Context) {
		defer done()
		if err := m.deleteFileIfUnused(ctx, fileID); err != nil {
			m.log.Warn("file delete failed; will retry", "file", fileID, "err", err)
		}
	}) {
		done()
	}
}

func (m *Manager) namePrefix() string { return m.o.NamePrefix + "-" + m.install + "-" }

// createStore creates a store for tmpl (kind, project, …), evicting
// least-recently-used idle session stores when the limit is near. The
// provider call runs detached: if ctx ends first, the store is still
// recorded when it arrives and reused by the session's next call.
func (m *Manager) createStore(ctx context.Context, tmpl storeRow) (storeRow, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		extra := 0
		if attempt > 0 {
			extra = 1 // the provider said "limit": free one more than we count
		}
		nonce, err := m.reserveStore(ctx, tmpl, extra)
		if err != nil {
			if lastErr != nil && errors.Is(err, ErrStoreLimit) {
				return storeRow{}, fmt.Errorf("%w (provider: %w)", err, lastErr)
			}
			return storeRow{}, err
		}
		res := make(chan error, 1)
		if !m.goBackground(func(ctx context.Context) { res <- m.providerCreate(ctx, nonce) }) {
			m.mu.Lock()
			delete(m.creating, nonce)
			m.mu.Unlock()
			return storeRow{}, ErrClosed
		}
		select {
		case <-ctx.Done():
			return storeRow{}, fmt.Errorf("cannot create vector store: %w", ctx.Err())
		case err = <-res:
		}
		if err == nil {
			rs, err := m.queryStores(ctx, `nonce=?`, nonce)
			if err != nil {
				return storeRow{}, err
			}
			if len(rs) == 0 || rs[0].State != stateLive {
				return storeRow{}, fmt.Errorf("BUG: store %s not live after creation", nonce)
			}
			return rs[0], nil
		}
		if !isStoreLimit(err) {
			return storeRow{}, err
		}
		lastErr = err
		m.log.Warn("provider refused a new vector store: limit reached; evicting", "err", err)
	}
	return storeRow{}, fmt.Errorf("%w (provider: %w)", ErrStoreLimit, lastErr)
}

// providerCreate asks the provider for the store reserved under nonce.
func (m *Manager) providerCreate(ctx context.Context, nonce string) error {
	defer func() {
		m.mu.Lock()
		delete(m.creating, nonce)
		m.mu.Unlock()
	}()
	rs, err := m.queryStores(ctx, `nonce=?`, nonce)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("BUG: no record for store %s", nonce)
	}
	r := rs[0]
	var vs *openai.VectorStore
	err = m.retry(ctx, func(ctx context.Context) error {
		var err error
		vs, err = m.client.VectorStores.New(ctx, openai.VectorStoreNewParams{
			Name: openai.String(m.namePrefix() + nonce),
			Metadata: shared.Metadata{
				"secondbrain": m.install, "kind": r.Kind, "type": r.MemType,
				"session": truncate(r.SessionID, 512), "tool": truncate(r.Tool, 512),
			},
		}, m.opts()...)
		if err != nil {
			return fmt.Errorf("cannot create vector store: %w", err)
		}
		return nil
	})
	if err != nil {
		if isDefinite(err) {
			// The provider answered "no": nothing was created.
			if _, derr := m.db.ExecContext(ctx, `DELETE FROM vs_stores WHERE nonce=?`, nonce); derr != nil {
				m.log.Warn("cannot drop record of refused store", "nonce", nonce, "err", derr)
			}
		}
		return err
	}
	res, err := m.db.ExecContext(context.WithoutCancel(ctx), `UPDATE vs_stores SET store_id=?, state=?, last_used=? WHERE nonce=?`,
		vs.ID, stateLive, m.nowNanos(), nonce)
	if err != nil {
		return fmt.Errorf("cannot record vector store %s: %w", vs.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// The next reconcile deletes it: a prefixed store with no record.
		return fmt.Errorf("cannot record vector store %s: its record %s is gone", vs.ID, nonce)
	}
	m.log.Info("vector store created", "store", vs.ID, "kind", r.Kind, "project", r.Project, "session", r.SessionID)
	return nil
}

// reserveStore checks the limit, evicts if needed and records a "creating"
// row (before the provider call, so a crash leaves a trace). extra asks to
// free that many stores beyond what the local count says.
func (m *Manager) reserveStore(ctx context.Context, tmpl storeRow, extra int) (string, error) {
	select {
	case m.createSem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-m.createSem }()

	var count int
	if err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_stores`).Scan(&count); err != nil {
		return "", fmt.Errorf("cannot count vector stores: %w", err)
	}
	threshold := m.o.StoreLimit - m.o.EvictHeadroom
	var wait []<-chan struct{}
	if count+1 > threshold || extra > 0 {
		soft := max(count+1-threshold, extra)
		hard := max(count+1-m.o.StoreLimit, extra)
		cands, err := m.queryStores(ctx, `kind=? AND state=? AND last_used<=? ORDER BY last_used ASC`,
			kindSession, stateLive, m.nowNanos()-int64(m.o.EvictMinIdle))
		if err != nil {
			return "", err
		}
		cands = slicesFilter(cands, func(r storeRow) bool { return !m.isInUse(r.Nonce) })
		var pending []storeRow
		if hard > 0 {
			if pending, err = m.queryStores(ctx, `state=?`, stateDeleting); err != nil {
				return "", err
			}
		}
		if hard > 0 && len(cands)+len(pending) < hard {
			return "", fmt.Errorf("%w: %d of %d stores exist; the others are in use or used within %s",
				ErrStoreLimit, count, m.o.StoreLimit, m.o.EvictMinIdle)
		}
		for _, r := range pending {
			wait = append(wait, m.scheduleDelete(r.Nonce))
		}
		for i, r := range cands {
			if i >= soft && len(wait) >= hard {
				break
			}
			m.log.Info("evicting least recently used vector store", "store", r.StoreID, "project", r.Project,
				"session", r.SessionID, "count", count, "limit", m.o.StoreLimit)
			wait = append(wait, m.evict(ctx, r.Nonce))
		}
		if hard > 0 {
			if err := waitN(ctx, wait, hard); err != nil {
				return "", fmt.Errorf("cannot free a vector store slot: %w", err)
			}
		}
	}
	nonce := randomHex(8)
	now := m.nowNanos()
	// In progress before the record exists: a sweep that reads the record
	// first must not take it for a crashed run's leftover and drop it
	// while the provider call is on its way (the store then leaked, and
	// the caller found no record).
	m.mu.Lock()
	m.creating[nonce] = true
	m.mu.Unlock()
	if _, err := m.db.ExecContext(ctx, `INSERT INTO vs_stores(nonce, kind, project, tool, session_id, mem_type, state, created_at, last_used, owner)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, nonce, tmpl.Kind, tmpl.Project, tmpl.Tool, tmpl.SessionID, tmpl.MemType,
		stateCreating, now, now, m.owner); err != nil {
		m.mu.Lock()
		delete(m.creating, nonce)
		m.mu.Unlock()
		return "", fmt.Errorf("cannot record new vector store: %w", err)
	}
	return nonce, nil
}

// waitN waits until n of chans are closed or ctx ends.
func waitN(ctx context.Context, chans []<-chan struct{}, n int) error {
	done := 0
	for _, ch := range chans {
		if done >= n {
			return nil
		}
		select {
		case <-ch:
			done++
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func slicesFilter[T any](in []T, keep func(T) bool) []T {
	out := in[:0]
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
