package fakeai

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

type fileBatch struct {
	ID        string
	StoreID   string
	CreatedAt time.Time
	FileIDs   []string
	Cancelled bool
}

type batchObject struct {
	ID            string     `json:"id"`
	Object        string     `json:"object"`
	CreatedAt     int64      `json:"created_at"`
	VectorStoreID string     `json:"vector_store_id"`
	Status        string     `json:"status"`
	FileCounts    fileCounts `json:"file_counts"`
}

func batchNotFound(id string) *apiError {
	return notFound("", "No file batch found with id '%s'.", id)
}

// batchObjectLocked derives the batch status from its files: in_progress
// while any is, cancelled if cancelled, else completed (failed files are
// counted, as the real API does, without failing the batch).
func (s *Server) batchObjectLocked(b *fileBatch, now time.Time) batchObject {
	o := batchObject{ID: b.ID, Object: "vector_store.files_batch", CreatedAt: b.CreatedAt.Unix(), VectorStoreID: b.StoreID}
	vs := s.stores[b.StoreID]
	for _, id := range b.FileIDs {
		st := "cancelled"
		if vs != nil {
			if sf, ok := vs.files[id]; ok && sf.BatchID == b.ID {
				st = sf.status(now)
			}
		}
		o.FileCounts.add(st)
	}
	switch {
	case b.Cancelled:
		o.Status = "cancelled"
	case o.FileCounts.InProgress > 0:
		o.Status = "in_progress"
	case o.FileCounts.Total > 0 && o.FileCounts.Failed == o.FileCounts.Total:
		o.Status = "failed"
	default:
		o.Status = "completed"
	}
	return o
}

type batchRequest struct {
	FileIDs    []string        `json:"file_ids"`
	Attributes json.RawMessage `json:"attributes"`
	Files      []struct {
		FileID     string          `json:"file_id"`
		Attributes json.RawMessage `json:"attributes"`
	} `json:"files"`
}

func (s *Server) createBatch(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req batchRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	type item struct {
		id    string
		attrs json.RawMessage
	}
	var items []item
	switch {
	case len(req.FileIDs) > 0 && len(req.Files) > 0:
		return badRequest("files", "'file_ids' and 'files' are mutually exclusive.")
	case len(req.FileIDs) > 0:
		for _, id := range req.FileIDs {
			items = append(items, item{id, req.Attributes})
		}
	case len(req.Files) > 0:
		for _, f := range req.Files {
			if f.FileID == "" {
				return missingParam("files[].file_id")
			}
			items = append(items, item{f.FileID, f.Attributes})
		}
	default:
		return missingParam("file_ids")
	}
	if len(items) > 2000 {
		return badRequest("file_ids", "Invalid 'file_ids': array too long. Expected an array with maximum length 2000, but got an array with length %d instead.", len(items))
	}
	if err := s.wait(ctx, s.Faults().VectorStoreLatency.D()); err != nil {
		return nil
	}
	var obj batchObject
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		for _, it := range items {
			if _, ok := s.files[it.id]; !ok {
				return fileNotFound(it.id)
			}
		}
		b := &fileBatch{ID: s.nextIDLocked("vsfb_"), StoreID: vs.ID, CreatedAt: now}
		for _, it := range items {
			s.attachLocked(vs, it.id, b.ID, it.attrs, s.faults, now)
			b.FileIDs = append(b.FileIDs, it.id)
		}
		s.batches[b.ID] = b
		s.count("file_batches_created", 1)
		obj = s.batchObjectLocked(b, now)
		return nil
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) withBatch(r *http.Request, fn func(b *fileBatch, now time.Time)) *apiError {
	id := r.PathValue("id")
	return s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		b, ok := s.batches[id]
		if !ok || b.StoreID != vs.ID {
			return batchNotFound(id)
		}
		fn(b, now)
		return nil
	})
}

func (s *Server) getBatch(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().PollLatency.D()); err != nil {
		return nil
	}
	s.count("polls", 1)
	var obj batchObject
	var remaining time.Duration
	if e := s.withBatch(r, func(b *fileBatch, now time.Time) {
		obj = s.batchObjectLocked(b, now)
		if vs := s.stores[b.StoreID]; vs != nil && obj.Status == "in_progress" {
			for _, id := range b.FileIDs {
				if sf, ok := vs.files[id]; ok {
					remaining = max(remaining, sf.ReadyAt.Sub(now))
				}
			}
		}
	}); e != nil {
		return e
	}
	s.pollAfter(w, remaining)
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) cancelBatch(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var obj batchObject
	if e := s.withBatch(r, func(b *fileBatch, now time.Time) {
		if o := s.batchObjectLocked(b, now); o.Status == "in_progress" {
			b.Cancelled = true
			vs := s.stores[b.StoreID]
			for _, id := range b.FileIDs {
				if sf, ok := vs.files[id]; ok && sf.BatchID == b.ID && sf.status(now) == "in_progress" {
					sf.Cancelled = true
				}
			}
			s.count("file_batches_cancelled", 1)
		}
		obj = s.batchObjectLocked(b, now)
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) listBatchFiles(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	return s.serveFileList(w, r, r.PathValue("id"))
}
