package vectorstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// entry is one file moving through the pipeline.
type entry struct {
	path    string // absolute path (or a memory document's name)
	content []byte // set for memory documents; disk files are read when uploaded
	sum     string // sha256 of the content, hex
	name    string // filename sent to the provider
	fileID  string // provider file id, known when reused or once uploaded
	reused  bool
	lastErr error
	pinned  string // file id pinned against the sweeper until the call ends
}

// pinEntry protects e's provider file from the sweeper's unattached-file
// cleanup until unpinEntries runs at the end of the call.
func (m *Manager) pinEntry(e *entry) {
	if e.pinned == "" && e.fileID != "" {
		e.pinned = e.fileID
		m.pin(e.fileID)
	}
}

func (m *Manager) unpinEntries(es []*entry) {
	for _, e := range es {
		if e.pinned != "" {
			m.unpin(e.pinned)
			e.pinned = ""
		}
	}
}

func sessionKey(r AttachRequest) string { return r.Project + "\x00" + r.Tool + "\x00" + r.SessionID }

// Attach makes req.Files searchable in the session's vector store, creating
// the store on the session's first call and reusing it afterwards. Files
// already in the store with the same content are left alone; files uploaded
// before for this project with the same path and content are attached without
// uploading; changed files are uploaded again and their old version removed.
// Files are attached in parallel batches; a file that still fails after
// retries is reported in Attachment.Failed and the rest go on. When ctx ends,
// Attach stops within milliseconds and returns ctx's error: nothing is left
// running on its behalf except a store creation, which completes detached.
func (m *Manager) Attach(ctx context.Context, req AttachRequest) (Attachment, error) {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return Attachment{}, ErrClosed
	}
	unlock, err := m.lockSession(ctx, sessionKey(req))
	if err != nil {
		return Attachment{}, fmt.Errorf("cannot attach files: %w", err)
	}
	defer unlock()

	st, found, replaced, err := m.liveSessionStore(ctx, req)
	if err != nil {
		return Attachment{}, err
	}
	if len(req.Files) == 0 {
		if !found {
			return Attachment{}, nil
		}
		return Attachment{VectorStoreIDs: []string{st.StoreID}}, m.touch(ctx, st.Nonce)
	}
	if found {
		m.acquire(st.Nonce)
		defer m.release(st.Nonce)
	}

	entries, failed := m.hashAll(ctx, req.Files)
	if err := ctx.Err(); err != nil {
		return Attachment{}, fmt.Errorf("cannot attach files: %w", err)
	}
	if len(entries) == 0 && !found {
		return Attachment{Failed: failed, ReplacedStore: replaced}, nil
	}
	if !found {
		st, err = m.createStore(ctx, storeRow{Kind: kindSession, Project: req.Project, Tool: req.Tool, SessionID: req.SessionID})
		if err != nil {
			return Attachment{Failed: failed, ReplacedStore: replaced}, err
		}
		m.acquire(st.Nonce)
		defer m.release(st.Nonce)
	}
	att := Attachment{VectorStoreIDs: []string{st.StoreID}, Failed: failed, ReplacedStore: replaced}

	work, stale, err := m.plan(ctx, st, req.Project, entries, &att)
	if err != nil {
		return att, err
	}
	defer m.unpinEntries(work)
	done, bad := m.runBatches(ctx, st, req.Project, work)
	m.account(&att, done, bad)
	if err := ctx.Err(); err != nil {
		return att, fmt.Errorf("cannot attach files to vector store %s: %w", st.StoreID, err)
	}
	// The changed files' new versions are in: take the old ones out, so the
	// model never sees stale content next to current content.
	for _, e := range done {
		if old, ok := stale[e.path]; ok && old.FileID != e.fileID {
			m.detach(ctx, st, old)
		}
	}
	if len(att.Failed) > 0 {
		m.log.Warn("some files could not be attached", "store", st.StoreID, "failed", len(att.Failed))
	}
	m.log.Info("files attached", "store", st.StoreID, "uploaded", att.Uploaded, "reused", att.Reused, "failed", len(att.Failed))
	return att, m.touch(ctx, st.Nonce)
}

// liveSessionStore is the session's recorded store, trusted only if the
// provider still has it: otherwise every file would be counted as
// "reused" in a store that is gone. A store found gone is forgotten and
// reported as replaced (found is then false).
func (m *Manager) liveSessionStore(ctx context.Context, req AttachRequest) (st storeRow, found bool, replaced string, err error) {
	st, found, err = m.sessionStore(ctx, req)
	if err != nil || !found {
		return st, found, "", err
	}
	missing, err := m.storeMissing(ctx, st)
	if err != nil {
		return st, false, "", fmt.Errorf("cannot check the session's vector store: %w", err)
	}
	if !missing {
		return st, true, "", nil
	}
	if err := m.forgetStore(ctx, st); err != nil {
		return st, false, "", err
	}
	return st, false, st.StoreID, nil
}

// plan sorts the hashed entries against the store's files: unchanged ones
// are reused as they are (counted in att), changed ones are to replace
// their stale version (returned), and a file this project uploaded before
// with the same content is attached without a new upload (pinned).
func (m *Manager) plan(ctx context.Context, st storeRow, project string, entries []*entry, att *Attachment) (work []*entry, stale map[string]storeFile, err error) {
	have, err := m.storeFiles(ctx, st.Nonce)
	if err != nil {
		return nil, nil, err
	}
	stale = map[string]storeFile{}
	for _, e := range entries {
		if h, ok := have[e.path]; ok {
			if h.SHA256 == e.sum {
				att.Reused++
				continue
			}
			stale[e.path] = h
		}
		id, err := m.uploadedFile(ctx, project, e.path, e.sum)
		if err != nil {
			m.unpinEntries(work)
			return nil, nil, err
		}
		if id != "" {
			e.fileID, e.reused = id, true
			m.pinEntry(e)
		}
		work = append(work, e)
	}
	return work, stale, nil
}

// account counts the batches' outcome into att; a file uploaded but never
// indexed is useless at the provider and deleted.
func (m *Manager) account(att *Attachment, done, bad []*entry) {
	for _, e := range done {
		if e.reused {
			att.Reused++
		} else {
			att.Uploaded++
		}
	}
	for _, e := range bad {
		att.Failed = append(att.Failed, FailedFile{Path: e.path, Reason: errString(e.lastErr)})
		if e.fileID != "" && !e.reused {
			m.unpinEntries([]*entry{e})
			m.deleteFileLater(e.fileID)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func (m *Manager) pin(fileID string) {
	m.mu.Lock()
	m.pinned[fileID]++
	m.mu.Unlock()
}

func (m *Manager) unpin(fileID string) {
	m.mu.Lock()
	if m.pinned[fileID]--; m.pinned[fileID] <= 0 {
		delete(m.pinned, fileID)
	}
	m.mu.Unlock()
}

// sessionStore returns the session's live store, if any.
func (m *Manager) sessionStore(ctx context.Context, req AttachRequest) (storeRow, bool, error) {
	rs, err := m.queryStores(ctx, `kind=? AND project=? AND tool=? AND session_id=? AND state=? ORDER BY last_used DESC LIMIT 1`,
		kindSession, req.Project, req.Tool, req.SessionID, stateLive)
	if err != nil || len(rs) == 0 {
		return storeRow{}, false, err
	}
	return rs[0], true, nil
}

// detach removes an old version of a file from a store and deletes the file
// once nothing references it. Best effort: a failure is logged.
func (m *Manager) detach(ctx context.Context, st storeRow, old storeFile) {
	err := m.retry(ctx, func(ctx context.Context) error {
		_, err := m.client.VectorStores.Files.Delete(ctx, st.StoreID, old.FileID, m.opts()...)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("cannot detach %s from %s: %w", old.FileID, st.StoreID, err)
		}
		return nil
	})
	if err != nil {
		m.log.Warn("cannot remove old version of a changed file", "path", old.Path, "err", err)
		return
	}
	if _, err := m.db.ExecContext(ctx, `DELETE FROM vs_store_files WHERE nonce=? AND file_id=?`, st.Nonce, old.FileID); err != nil {
		m.log.Warn("cannot drop record of detached file", "path", old.Path, "err", err)
		return
	}
	m.deleteFileLater(old.FileID)
}

// hashAll reads and hashes files concurrently. Unreadable and empty files are
// reported, never dropped silently.
func (m *Manager) hashAll(ctx context.Context, files []File) ([]*entry, []FailedFile) {
	entries := make([]*entry, len(files))
	errs := make([]error, len(files))
	sem := make(chan struct{}, m.o.FileConcurrency)
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for i, f := range files {
		if seen[f.Path] {
			continue
		}
		seen[f.Path] = true
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sum, err := m.hashFile(f.Path)
			if err != nil {
				errs[i] = err
				return
			}
			entries[i] = &entry{path: f.Path, sum: sum, name: uploadName(f.Path)}
		}()
	}
	wg.Wait()
	var out []*entry
	var failed []FailedFile
	for i, f := range files {
		switch {
		case entries[i] != nil:
			out = append(out, entries[i])
		case errs[i] != nil:
			failed = append(failed, FailedFile{Path: f.Path, Reason: errs[i].Error()})
		}
	}
	return out, failed
}

var errEmpty = errors.New("empty file: the provider cannot index it")

// hashFile hashes a file through a pooled buffer: reading each file whole
// made a garbage collection per 100-file call on a small heap.
func (m *Manager) hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	defer f.Close()
	buf, _ := m.hashBufs.Get().(*[32 << 10]byte)
	if buf == nil {
		buf = new([32 << 10]byte)
	}
	defer m.hashBufs.Put(buf)
	h := sha256.New()
	n, err := io.CopyBuffer(h, onlyReader{f}, buf[:])
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	if n == 0 {
		return "", errEmpty
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// onlyReader hides *os.File's WriterTo, which would ignore the pooled buffer.
type onlyReader struct{ io.Reader }

// splitBatches: up to BatchMin files go as one batch; more are split into
// batches of BatchSize, or evenly into Concurrency batches (>20 files → 10
// parallel batches, which made throttled uploads 6–7× faster).
func (m *Manager) splitBatches(work []*entry) [][]*entry {
	n := len(work)
	if n == 0 {
		return nil
	}
	if n <= m.o.BatchMin {
		return [][]*entry{work}
	}
	size := m.o.BatchSize
	if size <= 0 {
		size = (n + m.o.Concurrency - 1) / m.o.Concurrency
	}
	var out [][]*entry
	for i := 0; i < n; i += size {
		out = append(out, work[i:min(i+size, n)])
	}
	return out
}

// runBatches processes batches with at most Concurrency in flight. It returns
// once every worker has returned, also when ctx ends.
func (m *Manager) runBatches(ctx context.Context, st storeRow, project string, work []*entry) (done, bad []*entry) {
	batches := m.splitBatches(work)
	if len(batches) == 0 {
		return nil, nil
	}
	ch := make(chan []*entry)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(m.o.Concurrency, len(batches)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range ch {
				d, f := m.runBatch(ctx, st, project, b)
				mu.Lock()
				done, bad = append(done, d...), append(bad, f...)
				mu.Unlock()
			}
		}()
	}
	for i, b := range batches {
		select {
		case ch <- b:
			continue
		case <-ctx.Done():
		}
		for _, rest := range batches[i:] {
			for _, e := range rest {
				e.lastErr = ctx.Err()
			}
			bad = append(bad, rest...)
		}
		break
	}
	close(ch)
	wg.Wait()
	return done, bad
}

// runBatch uploads a batch's new files, attaches the batch and polls it;
// files that fail are retried (with backoff) in a smaller batch.
func (m *Manager) runBatch(ctx context.Context, st storeRow, project string, b []*entry) (done, bad []*entry) {
	pending := b
	for round := 0; ; round++ {
		var ready []*entry
		up := m.uploadAll(ctx, project, pending)
		for _, e := range up {
			if e.fileID == "" {
				bad = append(bad, e)
			} else {
				ready = append(ready, e)
			}
		}
		if len(ready) == 0 {
			return done, bad
		}
		ok, failed, err := m.attachBatch(ctx, st, ready)
		done = append(done, ok...)
		if err != nil {
			for _, e := range failed {
				e.lastErr = err
			}
		}
		if len(failed) == 0 {
			return done, bad
		}
		vanished := false
		for _, e := range failed {
			// A reused file may have been deleted since it was recorded:
			// the next round uploads it afresh.
			if e.reused {
				id := e.fileID
				m.unpinEntries([]*entry{e})
				e.fileID, e.reused = "", false
				if isNotFound(err) {
					// The provider does not know the file: its dedup record
					// must not offer it again (to this call or any other).
					m.invalidateUpload(ctx, id)
					vanished = true
				}
			}
		}
		if ctx.Err() != nil || round >= m.o.Retries {
			return done, append(bad, failed...)
		}
		m.log.Info("retrying files that failed to attach", "store", st.StoreID, "files", len(failed), "round", round+1)
		if !vanished { // a vanished file is re-uploaded at once: waiting would not bring it back
			if serr := clock.Sleep(ctx, m.o.Clock, m.backoff(round, err)); serr != nil {
				return done, append(bad, failed...)
			}
		}
		pending = failed
	}
}

// uploadAll uploads the entries that have no provider file yet, at most
// MaxUploads at a time across the manager, and returns all entries (failed
// ones without id). A slot is taken before the goroutine starts, so waiting
// uploads cost no goroutine.
func (m *Manager) uploadAll(ctx context.Context, project string, es []*entry) []*entry {
	sem := m.uploadSem
	var wg sync.WaitGroup
	for _, e := range es {
		if e.fileID != "" {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			e.lastErr = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := m.upload(ctx, project, e); err != nil {
				e.lastErr = err
			}
		}()
	}
	wg.Wait()
	return es
}

// namedReader gives the multipart encoder a filename and content type.
type namedReader struct {
	*bytes.Reader
	name string
}

func (r namedReader) Filename() string    { return r.name }
func (r namedReader) ContentType() string { return "text/plain" }

// upload sends one file (POST /v1/files, purpose "assistants"). A record is
// written first, so that an upload cut short by a crash can be found later.
func (m *Manager) upload(ctx context.Context, project string, e *entry) error {
	data := e.content
	if data == nil {
		b, err := os.ReadFile(e.path)
		if err != nil {
			return fmt.Errorf("cannot read %q: %w", e.path, err)
		}
		if len(b) == 0 {
			return errEmpty
		}
		s := sha256.Sum256(b)
		data, e.sum = b, hex.EncodeToString(s[:]) // the file may have changed since hashing
	}
	res, err := m.db.ExecContext(ctx, `INSERT INTO vs_files(project, path, sha256, upload_name, state, created_at, owner)
		VALUES(?, ?, ?, ?, ?, ?, ?)`, project, e.path, e.sum, e.name, stateUploading, m.nowNanos(), m.owner)
	if err != nil {
		return fmt.Errorf("cannot record upload of %q: %w", e.path, err)
	}
	rowID, _ := res.LastInsertId() // sqlite always has it
	m.mu.Lock()
	m.uploads[rowID] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.uploads, rowID)
		m.mu.Unlock()
	}()

	var fo *openai.FileObject
	err = m.retry(ctx, func(ctx context.Context) error {
		var err error
		fo, err = m.client.Files.New(ctx, openai.FileNewParams{
			File:    namedReader{bytes.NewReader(data), e.name},
			Purpose: openai.FilePurposeAssistants,
		}, m.opts()...)
		if err != nil {
			return fmt.Errorf("cannot upload %q: %w", e.path, err)
		}
		return nil
	})
	if err != nil {
		if isDefinite(err) {
			_, _ = m.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM vs_files WHERE id=?`, rowID)
		}
		return err
	}
	// Record the id even if ctx just ended: the file exists now.
	if _, err := m.db.ExecContext(context.WithoutCancel(ctx), `UPDATE vs_files SET file_id=?, state=? WHERE id=?`, fo.ID, stateUploaded, rowID); err != nil {
		return fmt.Errorf("cannot record upload of %q: %w", e.path, err)
	}
	e.fileID = fo.ID
	m.pinEntry(e)
	return nil
}

// attachBatch adds files to the store as one file batch and polls it until
// it ends, honouring openai-poll-after-ms on the scenario clock. It returns
// the files now in the store and those that failed.
func (m *Manager) attachBatch(ctx context.Context, st storeRow, es []*entry) (ok, failed []*entry, err error) {
	params := openai.VectorStoreFileBatchNewParams{}
	byID := map[string]*entry{}
	for _, e := range es {
		byID[e.fileID] = e
		params.Files = append(params.Files, openai.VectorStoreFileBatchNewParamsFile{
			FileID: e.fileID,
			Attributes: map[string]openai.VectorStoreFileBatchNewParamsFileAttributeUnion{
				"path":   {OfString: openai.String(truncate(e.path, 512))},
				"sha256": {OfString: openai.String(e.sum)},
			},
		})
	}
	var batch *openai.VectorStoreFileBatch
	var raw *http.Response
	err = m.retry(ctx, func(ctx context.Context) error {
		var err error
		batch, err = m.client.VectorStores.FileBatches.New(ctx, st.StoreID, params, m.opts(option.WithResponseInto(&raw))...)
		if err != nil {
			return fmt.Errorf("cannot create file batch in %s: %w", st.StoreID, err)
		}
		return nil
	})
	if err != nil {
		return nil, es, err
	}
	for batch.Status == openai.VectorStoreFileBatchStatusInProgress {
		if err := clock.Sleep(ctx, m.o.Clock, m.pollAfter(raw)); err != nil {
			m.cancelBatchLater(st.StoreID, batch.ID)
			return nil, es, err
		}
		err = m.retry(ctx, func(ctx context.Context) error {
			var err error
			batch, err = m.client.VectorStores.FileBatches.Get(ctx, st.StoreID, batch.ID, m.opts(option.WithResponseInto(&raw))...)
			if err != nil {
				return fmt.Errorf("cannot poll file batch %s: %w", batch.ID, err)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				m.cancelBatchLater(st.StoreID, batch.ID)
			}
			return nil, es, err
		}
	}
	if batch.Status == openai.VectorStoreFileBatchStatusCompleted && batch.FileCounts.Failed == 0 && batch.FileCounts.Cancelled == 0 {
		ok = es
	} else {
		// Per-file status: which ones made it?
		pager := m.client.VectorStores.FileBatches.ListFilesAutoPaging(ctx, st.StoreID, batch.ID,
			openai.VectorStoreFileBatchListFilesParams{Limit: openai.Int(100)}, m.opts()...)
		seen := map[string]bool{}
		for pager.Next() {
			f := pager.Current()
			e := byID[f.ID]
			if e == nil || seen[f.ID] {
				continue
			}
			seen[f.ID] = true
			if f.Status == openai.VectorStoreFileStatusCompleted {
				ok = append(ok, e)
				continue
			}
			e.lastErr = fmt.Errorf("file batch %s: file %s %s: %s", batch.ID, f.ID, f.Status, f.LastError.Message)
			failed = append(failed, e)
		}
		if perr := pager.Err(); perr != nil {
			return nil, es, fmt.Errorf("cannot list files of batch %s: %w", batch.ID, perr)
		}
		for _, e := range es {
			if !seen[e.fileID] {
				e.lastErr = fmt.Errorf("file batch %s ended %s without file %s", batch.ID, batch.Status, e.fileID)
				failed = append(failed, e)
			}
		}
	}
	if err := m.recordAttached(context.WithoutCancel(ctx), st.Nonce, ok); err != nil {
		return nil, es, err
	}
	return ok, failed, nil
}

// recordAttached writes a batch's files in one transaction: one commit per
// batch instead of one per file.
func (m *Manager) recordAttached(ctx context.Context, nonce string, es []*entry) error {
	if len(es) == 0 {
		return nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot record files in store %s: %w", nonce, err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	for _, e := range es {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO vs_store_files(nonce, file_id, path, sha256) VALUES(?, ?, ?, ?)`,
			nonce, e.fileID, e.path, e.sum); err != nil {
			return fmt.Errorf("cannot record %q in store %s: %w", e.path, nonce, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot record files in store %s: %w", nonce, err)
	}
	return nil
}

// cancelBatchLater cancels an abandoned batch at the provider, detached from
// the cancelled request, so the provider stops indexing for nobody.
func (m *Manager) cancelBatchLater(storeID, batchID string) {
	m.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, m.o.DeleteTimeout)
		defer cancel()
		if _, err := m.client.VectorStores.FileBatches.Cancel(ctx, storeID, batchID, m.opts()...); err != nil && !isNotFound(err) {
			m.log.Debug("cannot cancel abandoned file batch", "batch", batchID, "err", err)
		}
	})
}

// invalidateUpload stops offering fileID for dedup after the provider said it
// does not know it, and deletes it in the background once no recorded store
// references it ("not found" counts as deleted).
func (m *Manager) invalidateUpload(ctx context.Context, fileID string) {
	if _, err := m.db.ExecContext(context.WithoutCancel(ctx), `UPDATE vs_files SET state=? WHERE file_id=?`, stateDeleting, fileID); err != nil {
		m.log.Warn("cannot invalidate upload record of a vanished file", "file", fileID, "err", err)
		return
	}
	m.log.Warn("uploaded file vanished at the provider; uploading it again", "file", fileID)
	m.deleteFileLater(fileID)
}
