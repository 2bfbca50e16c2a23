package vectorstore

import (
	"context"
	"fmt"

	"github.com/openai/openai-go/v3"
)

// Provider-side state can vanish while our records still point at it:
// OpenAI expires stores (expires_after) and deletes objects when a user
// cleans up the dashboard; `serve --provider fake` loses everything at each
// restart and may even hand out the same ids again for other objects. A
// record is trusted only while the provider confirms it, and dropped when it
// does not (see storeMissing, forgetStore).

// storeMissing asks the provider whether st's store still exists and is
// ours: a 404, an expired store, or a store whose name is not the one we
// gave (a provider that lost its state and reissued the id) all count as
// missing. Other errors are returned: the answer is unknown.
func (m *Manager) storeMissing(ctx context.Context, st storeRow) (bool, error) {
	var vs *openai.VectorStore
	gone := false
	err := m.retry(ctx, func(ctx context.Context) error {
		var err error
		vs, err = m.client.VectorStores.Get(ctx, st.StoreID, m.opts()...)
		if isNotFound(err) {
			gone = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot look up vector store %s: %w", st.StoreID, err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if gone || vs == nil {
		return true, nil
	}
	if vs.Status == openai.VectorStoreStatusExpired {
		return true, nil
	}
	if st.Nonce != "" && vs.Name != m.namePrefix()+st.Nonce {
		return true, nil
	}
	return false, nil
}

// forgetStore drops the records of a store the provider no longer has, so
// the next Attach (or memory write) creates a new one. Its files' upload
// records are invalidated too — the provider may have lost them with the
// store, and a dedup hit on a vanished file id would fail or, worse, attach
// another file that now carries the id — unless another recorded store still
// references them. The invalidated files are deleted at the provider in the
// background ("not found" counts as deleted), so none leaks if it survived.
func (m *Manager) forgetStore(ctx context.Context, st storeRow) error {
	files, err := m.storeFiles(ctx, st.Nonce)
	if err != nil {
		return err
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot forget vector store %s: %w", st.StoreID, err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	if _, err := tx.ExecContext(ctx, `DELETE FROM vs_store_files WHERE nonce=?`, st.Nonce); err != nil {
		return fmt.Errorf("cannot forget files of vector store %s: %w", st.StoreID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM vs_stores WHERE nonce=?`, st.Nonce); err != nil {
		return fmt.Errorf("cannot forget vector store %s: %w", st.StoreID, err)
	}
	var orphans []string
	for _, f := range files {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_store_files WHERE file_id=?`, f.FileID).Scan(&n); err != nil {
			return fmt.Errorf("cannot count references to file %s: %w", f.FileID, err)
		}
		if n > 0 {
			continue
		}
		// No longer a dedup candidate (uploadedFile wants state "uploaded").
		if _, err := tx.ExecContext(ctx, `UPDATE vs_files SET state=? WHERE file_id=?`, stateDeleting, f.FileID); err != nil {
			return fmt.Errorf("cannot invalidate upload record of file %s: %w", f.FileID, err)
		}
		orphans = append(orphans, f.FileID)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot forget vector store %s: %w", st.StoreID, err)
	}
	m.log.Warn("vector store vanished at the provider; records dropped", "store", st.StoreID, "kind", st.Kind,
		"project", st.Project, "session", st.SessionID, "files_invalidated", len(orphans))
	for _, id := range orphans {
		m.deleteFileLater(id)
	}
	return nil
}

// ForgetMissingStore checks storeID at the provider and, when it is gone (or
// no longer ours), drops its records. It reports whether the store is
// missing; a store that still exists is left alone. The server calls it when
// a model call fails because a vector store was not found.
func (m *Manager) ForgetMissingStore(ctx context.Context, storeID string) (bool, error) {
	rs, err := m.queryStores(ctx, `store_id=?`, storeID)
	if err != nil {
		return false, err
	}
	if len(rs) == 0 {
		return m.storeMissing(ctx, storeRow{StoreID: storeID})
	}
	missing, err := m.storeMissing(ctx, rs[0])
	if err != nil || !missing {
		return false, err
	}
	return true, m.forgetStore(ctx, rs[0])
}

// forgetStoreID drops the records of the store with this provider id after
// the provider answered 404 for it (searches); no record is no error.
func (m *Manager) forgetStoreID(ctx context.Context, storeID string) error {
	rs, err := m.queryStores(ctx, `store_id=?`, storeID)
	if err != nil || len(rs) == 0 {
		return err
	}
	return m.forgetStore(ctx, rs[0])
}
