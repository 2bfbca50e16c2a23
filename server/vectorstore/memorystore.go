package vectorstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// AddDocument stores content as one document in the project's memory store of
// type memType ("conversations", "commits", …), creating the store on first
// use. A store holding MemoryRollover documents is retired — still searched
// by [Manager.MemoryStoreIDs], never written again — and the next document
// goes to a new store. Memory stores have no TTL and are never evicted.
// name becomes the document's filename (".txt" is appended if needed).
func (m *Manager) AddDocument(ctx context.Context, project, memType, name string, content []byte) error {
	if len(content) == 0 {
		return fmt.Errorf("cannot store memory document %q: %w", name, errEmpty)
	}
	unlock, err := m.lockSession(ctx, "memory\x00"+project+"\x00"+memType)
	if err != nil {
		return fmt.Errorf("cannot store memory document %q: %w", name, err)
	}
	defer unlock()
	rs, err := m.queryStores(ctx, `kind=? AND project=? AND mem_type=? AND state=? ORDER BY created_at DESC LIMIT 1`,
		kindMemory, project, memType, stateLive)
	if err != nil {
		return err
	}
	var st storeRow
	if len(rs) > 0 {
		st = rs[0]
	} else if st, err = m.createStore(ctx, storeRow{Kind: kindMemory, Project: project, MemType: memType}); err != nil {
		return fmt.Errorf("cannot create %s memory store: %w", memType, err)
	}
	m.acquire(st.Nonce)
	defer m.release(st.Nonce)

	sum := sha256.Sum256(content)
	e := &entry{path: name, content: content, sum: hex.EncodeToString(sum[:]), name: uploadName(name)}
	defer m.unpinEntries([]*entry{e})
	if err := m.upload(ctx, project, e); err != nil {
		return err
	}
	ok, _, err := m.attachBatch(ctx, st, []*entry{e})
	if err != nil && isNotFound(err) {
		// The memory store may have vanished at the provider (deleted out of
		// band, a restarted fake): forget it and write to a new one.
		if missing, merr := m.storeMissing(ctx, st); merr == nil && missing {
			if ferr := m.forgetStore(ctx, st); ferr != nil {
				return ferr
			}
			nst, cerr := m.createStore(ctx, storeRow{Kind: kindMemory, Project: project, MemType: memType})
			if cerr != nil {
				return fmt.Errorf("cannot recreate %s memory store: %w", memType, cerr)
			}
			m.acquire(nst.Nonce)
			defer m.release(nst.Nonce)
			st = nst
			ok, _, err = m.attachBatch(ctx, st, []*entry{e})
		}
	}
	if err == nil && len(ok) == 0 {
		err = e.lastErr
	}
	if err != nil {
		m.unpinEntries([]*entry{e})
		m.deleteFileLater(e.fileID) // unattached: nothing else will use it
		return fmt.Errorf("cannot add memory document %q: %w", name, err)
	}
	// Retire the store once full; the next document creates a new one.
	if _, err := m.db.ExecContext(context.WithoutCancel(ctx), `UPDATE vs_stores SET doc_count=doc_count+1, last_used=?,
		state=CASE WHEN doc_count+1>=? THEN ? ELSE state END WHERE nonce=?`,
		m.nowNanos(), m.o.MemoryRollover, stateRetired, st.Nonce); err != nil {
		return fmt.Errorf("cannot count memory document in %s: %w", st.StoreID, err)
	}
	return nil
}

// MemoryStoreIDs returns the provider ids of all memory stores of the given
// types for project — the active one and every rolled-over one — oldest
// first. No types means all types.
func (m *Manager) MemoryStoreIDs(ctx context.Context, project string, types []string) ([]string, error) {
	q := `kind=? AND project=? AND state IN (?, ?) AND store_id<>''`
	args := []any{kindMemory, project, stateLive, stateRetired}
	if len(types) > 0 {
		q += ` AND mem_type IN (?` + strings.Repeat(`, ?`, len(types)-1) + `)`
		for _, t := range types {
			args = append(args, t)
		}
	}
	rs, err := m.queryStores(ctx, q+` ORDER BY created_at`, args...)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.StoreID)
	}
	return ids, nil
}
