package fakeai

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

type vectorStore struct {
	ID           string
	Name         string
	CreatedAt    time.Time
	LastActiveAt time.Time
	Metadata     map[string]string
	ExpiresAfter json.RawMessage
	files        map[string]*storeFile
	order        []string // attach order of file ids
}

// storeFile is one file attached to one store; its status is derived from
// the clock so polling sees in_progress until BatchDuration has passed.
type storeFile struct {
	FileID     string
	StoreID    string
	BatchID    string
	CreatedAt  time.Time
	ReadyAt    time.Time
	Failed     bool
	Cancelled  bool
	Attributes json.RawMessage
}

func (sf *storeFile) status(now time.Time) string {
	switch {
	case sf.Cancelled:
		return "cancelled"
	case now.Before(sf.ReadyAt):
		return "in_progress"
	case sf.Failed:
		return "failed"
	default:
		return "completed"
	}
}

type fileCounts struct {
	InProgress int64 `json:"in_progress"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
	Cancelled  int64 `json:"cancelled"`
	Total      int64 `json:"total"`
}

func (c *fileCounts) add(status string) {
	c.Total++
	switch status {
	case "in_progress":
		c.InProgress++
	case "completed":
		c.Completed++
	case "failed":
		c.Failed++
	case "cancelled":
		c.Cancelled++
	}
}

type storeObject struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	CreatedAt    int64             `json:"created_at"`
	Name         string            `json:"name"`
	Description  *string           `json:"description"`
	UsageBytes   int64             `json:"usage_bytes"`
	FileCounts   fileCounts        `json:"file_counts"`
	Status       string            `json:"status"`
	ExpiresAfter json.RawMessage   `json:"expires_after"`
	ExpiresAt    *int64            `json:"expires_at"`
	LastActiveAt int64             `json:"last_active_at"`
	Metadata     map[string]string `json:"metadata"`
}

// object must be called with s.mu held.
func (s *Server) storeObjectLocked(vs *vectorStore, now time.Time) storeObject {
	o := storeObject{ID: vs.ID, Object: "vector_store", CreatedAt: vs.CreatedAt.Unix(), Name: vs.Name,
		LastActiveAt: vs.LastActiveAt.Unix(), Metadata: vs.Metadata, ExpiresAfter: vs.ExpiresAfter}
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	if len(o.ExpiresAfter) == 0 {
		o.ExpiresAfter = json.RawMessage("null")
	}
	for _, id := range vs.order {
		sf := vs.files[id]
		st := sf.status(now)
		o.FileCounts.add(st)
		if f, ok := s.files[id]; ok && st == "completed" {
			o.UsageBytes += f.Bytes
		}
	}
	o.Status = "completed"
	if o.FileCounts.InProgress > 0 {
		o.Status = "in_progress"
	}
	return o
}

type storeFileObject struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	CreatedAt     int64           `json:"created_at"`
	UsageBytes    int64           `json:"usage_bytes"`
	VectorStoreID string          `json:"vector_store_id"`
	Status        string          `json:"status"`
	LastError     *lastError      `json:"last_error"`
	Attributes    json.RawMessage `json:"attributes"`
	ChunkingStrat map[string]any  `json:"chunking_strategy"`
}

type lastError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var staticChunking = map[string]any{"type": "static", "static": map[string]any{"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}

func (s *Server) storeFileObjectLocked(sf *storeFile, now time.Time) storeFileObject {
	st := sf.status(now)
	o := storeFileObject{ID: sf.FileID, Object: "vector_store.file", CreatedAt: sf.CreatedAt.Unix(),
		VectorStoreID: sf.StoreID, Status: st, Attributes: sf.Attributes, ChunkingStrat: staticChunking}
	if len(o.Attributes) == 0 {
		o.Attributes = json.RawMessage("{}")
	}
	if f, ok := s.files[sf.FileID]; ok && st == "completed" {
		o.UsageBytes = f.Bytes
	}
	if st == "failed" {
		name := sf.FileID
		if f, ok := s.files[sf.FileID]; ok {
			name = f.Filename
		}
		o.LastError = &lastError{Code: "invalid_file", Message: "fakeai failed file " + name + " (fail_files fault)"}
	}
	return o
}

func storeNotFound(id string) *apiError {
	return notFound("", "No vector store found with id '%s'.", id)
}

type createStoreRequest struct {
	Name         *string           `json:"name"`
	FileIDs      []string          `json:"file_ids"`
	Metadata     map[string]string `json:"metadata"`
	ExpiresAfter json.RawMessage   `json:"expires_after"`
}

func (s *Server) createStore(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req createStoreRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	if err := s.wait(ctx, s.Faults().VectorStoreLatency.D()); err != nil {
		return nil
	}
	obj, e := s.createStoreLocked(req, s.clk.Now())
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) createStoreLocked(req createStoreRequest, now time.Time) (storeObject, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	if lim := f.storeLimit(); lim > 0 && len(s.stores) >= lim {
		s.count("vector_stores_refused", 1)
		return storeObject{}, storeLimitError(lim)
	}
	for _, id := range req.FileIDs {
		if _, ok := s.files[id]; !ok {
			return storeObject{}, badRequest("file_ids", "File %s not found", id)
		}
	}
	vs := &vectorStore{ID: s.nextIDLocked("vs_"), CreatedAt: now, LastActiveAt: now, Metadata: req.Metadata,
		ExpiresAfter: req.ExpiresAfter, files: map[string]*storeFile{}}
	if req.Name != nil {
		vs.Name = *req.Name
	}
	for _, id := range req.FileIDs {
		s.attachLocked(vs, id, "", nil, f, now)
	}
	s.stores[vs.ID] = vs
	s.storeOrd = append(s.storeOrd, vs.ID)
	s.count("vector_stores_created", 1)
	return s.storeObjectLocked(vs, now), nil
}

// attachLocked adds file id to vs (or re-attaches it) and returns the entry.
func (s *Server) attachLocked(vs *vectorStore, id, batchID string, attrs json.RawMessage, f Faults, now time.Time) *storeFile {
	sf := &storeFile{FileID: id, StoreID: vs.ID, BatchID: batchID, CreatedAt: now,
		ReadyAt: now.Add(f.BatchDuration.D()), Attributes: attrs}
	if fl, ok := s.files[id]; ok && f.failsFile(fl.Filename) {
		sf.Failed = true
		s.count("vector_store_files_failed", 1)
	}
	if _, dup := vs.files[id]; !dup {
		vs.order = append(vs.order, id)
	}
	vs.files[id] = sf
	vs.LastActiveAt = now
	s.count("vector_store_files_attached", 1)
	return sf
}

// lookupStore runs fn on the store with s.mu held.
func (s *Server) withStore(id string, fn func(vs *vectorStore, now time.Time) *apiError) *apiError {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, ok := s.stores[id]
	if !ok {
		return storeNotFound(id)
	}
	return fn(vs, now)
}

func (s *Server) getStore(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().PollLatency.D()); err != nil {
		return nil
	}
	s.count("polls", 1)
	var obj storeObject
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		obj = s.storeObjectLocked(vs, now)
		return nil
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) updateStore(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req createStoreRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	var obj storeObject
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		if req.Name != nil {
			vs.Name = *req.Name
		}
		if req.Metadata != nil {
			vs.Metadata = req.Metadata
		}
		if len(req.ExpiresAfter) > 0 {
			vs.ExpiresAfter = req.ExpiresAfter
		}
		vs.LastActiveAt = now
		obj = s.storeObjectLocked(vs, now)
		return nil
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) listStores(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	now := s.clk.Now()
	s.mu.Lock()
	all := make([]storeObject, 0, len(s.storeOrd))
	for _, id := range s.storeOrd {
		all = append(all, s.storeObjectLocked(s.stores[id], now))
	}
	s.mu.Unlock()
	id := func(o storeObject) string { return o.ID }
	page, more, e := paginate(all, id, r.URL.Query(), 100)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, listPage(page, more, id))
	return nil
}

func (s *Server) deleteStore(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().DeleteLatency.D()); err != nil {
		return nil // abandoned: the store stays
	}
	id := r.PathValue("vs")
	s.mu.Lock()
	_, ok := s.stores[id]
	if ok {
		delete(s.stores, id)
		s.storeOrd = slices.DeleteFunc(s.storeOrd, func(x string) bool { return x == id })
		for bid, b := range s.batches {
			if b.StoreID == id {
				delete(s.batches, bid)
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		return storeNotFound(id)
	}
	s.count("vector_stores_deleted", 1)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "vector_store.deleted", "deleted": true})
	return nil
}

type attachRequest struct {
	FileID     string          `json:"file_id"`
	Attributes json.RawMessage `json:"attributes"`
}

func (s *Server) attachFile(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req attachRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	if req.FileID == "" {
		return missingParam("file_id")
	}
	if err := s.wait(ctx, s.Faults().VectorStoreLatency.D()); err != nil {
		return nil
	}
	var obj storeFileObject
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		if _, ok := s.files[req.FileID]; !ok {
			return fileNotFound(req.FileID)
		}
		obj = s.storeFileObjectLocked(s.attachLocked(vs, req.FileID, "", req.Attributes, s.faults, now), now)
		return nil
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) getStoreFile(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().PollLatency.D()); err != nil {
		return nil
	}
	s.count("polls", 1)
	id := r.PathValue("id")
	var obj storeFileObject
	var remaining time.Duration
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		sf, ok := vs.files[id]
		if !ok {
			return notFound("", "No file found with id '%s' in vector store '%s'.", id, vs.ID)
		}
		obj = s.storeFileObjectLocked(sf, now)
		remaining = sf.ReadyAt.Sub(now)
		return nil
	}); e != nil {
		return e
	}
	s.pollAfter(w, remaining)
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) detachFile(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().DeleteLatency.D()); err != nil {
		return nil
	}
	id := r.PathValue("id")
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, _ time.Time) *apiError {
		if _, ok := vs.files[id]; !ok {
			return notFound("", "No file found with id '%s' in vector store '%s'.", id, vs.ID)
		}
		delete(vs.files, id)
		vs.order = slices.DeleteFunc(vs.order, func(x string) bool { return x == id })
		return nil
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "vector_store.file.deleted", "deleted": true})
	return nil
}

// listFilesLocked filters and pages the files of vs (optionally one batch).
func (s *Server) listStoreFilesLocked(vs *vectorStore, batchID string, now time.Time, filter string) []storeFileObject {
	out := make([]storeFileObject, 0, len(vs.order))
	for _, id := range vs.order {
		sf := vs.files[id]
		if batchID != "" && sf.BatchID != batchID {
			continue
		}
		if filter != "" && sf.status(now) != filter {
			continue
		}
		out = append(out, s.storeFileObjectLocked(sf, now))
	}
	return out
}

func (s *Server) listStoreFiles(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	return s.serveFileList(w, r, "")
}

func (s *Server) serveFileList(w http.ResponseWriter, r *http.Request, batchID string) *apiError {
	q := r.URL.Query()
	filter := q.Get("filter")
	switch filter {
	case "", "in_progress", "completed", "failed", "cancelled":
	default:
		return badRequest("filter", "Invalid value for 'filter': %q.", filter)
	}
	var all []storeFileObject
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		if batchID != "" {
			if b, ok := s.batches[batchID]; !ok || b.StoreID != vs.ID {
				return batchNotFound(batchID)
			}
		}
		all = s.listStoreFilesLocked(vs, batchID, now, filter)
		return nil
	}); e != nil {
		return e
	}
	id := func(o storeFileObject) string { return o.ID }
	page, more, e := paginate(all, id, q, 100)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, listPage(page, more, id))
	return nil
}

type searchRequest struct {
	Query         json.RawMessage `json:"query"`
	MaxNumResults int             `json:"max_num_results"`
}

type searchResult struct {
	FileID     string            `json:"file_id"`
	Filename   string            `json:"filename"`
	Score      float64           `json:"score"`
	Attributes json.RawMessage   `json:"attributes"`
	Content    []searchResultTxt `json:"content"`
}

type searchResultTxt struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// searchStore scores each completed file by how many query words it holds:
// deterministic, and enough for callers to see their files come back.
func (s *Server) searchStore(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	var req searchRequest
	if e := decodeJSON(w, r, &req); e != nil {
		return e
	}
	var queries []string
	if err := json.Unmarshal(req.Query, &queries); err != nil {
		var one string
		if err := json.Unmarshal(req.Query, &one); err != nil || one == "" {
			return missingParam("query")
		}
		queries = []string{one}
	}
	if req.MaxNumResults == 0 {
		req.MaxNumResults = 10
	}
	if req.MaxNumResults < 1 || req.MaxNumResults > 50 {
		return badRequest("max_num_results", "Invalid 'max_num_results': expected an integer between 1 and 50.")
	}
	if err := s.wait(ctx, s.Faults().VectorStoreLatency.D()); err != nil {
		return nil
	}
	words := strings.Fields(strings.ToLower(strings.Join(queries, " ")))
	// The store's completed files are listed under the lock and searched
	// after it: a scan of a growing store must not hold up every other
	// request to the fake.
	type candidate struct {
		f     *file
		attrs json.RawMessage
	}
	var cands []candidate
	if e := s.withStore(r.PathValue("vs"), func(vs *vectorStore, now time.Time) *apiError {
		for _, id := range vs.order {
			sf := vs.files[id]
			if f, ok := s.files[id]; ok && sf.status(now) == "completed" {
				cands = append(cands, candidate{f: f, attrs: sf.Attributes})
			}
		}
		vs.LastActiveAt = now
		return nil
	}); e != nil {
		return e
	}
	var results []searchResult
	for _, c := range cands {
		hits := 0
		for _, wd := range words {
			hits += strings.Count(c.f.lower, wd)
		}
		if hits == 0 {
			continue
		}
		attrs := c.attrs
		if len(attrs) == 0 {
			attrs = json.RawMessage("{}")
		}
		txt := string(c.f.Content)
		if len(txt) > 800 {
			txt = txt[:800]
		}
		results = append(results, searchResult{FileID: c.f.ID, Filename: c.f.Filename,
			Score: float64(hits) / float64(hits+1), Attributes: attrs,
			Content: []searchResultTxt{{Type: "text", Text: txt}}})
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Score > results[j].Score })
	if len(results) > req.MaxNumResults {
		results = results[:req.MaxNumResults]
	}
	if results == nil {
		results = []searchResult{}
	}
	s.count("vector_store_searches", 1)
	writeJSON(w, http.StatusOK, map[string]any{"object": "vector_store.search_results.page",
		"search_query": queries, "data": results, "has_more": false, "next_page": nil})
	return nil
}
