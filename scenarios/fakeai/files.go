package fakeai

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxUpload bounds one uploaded file held in memory.
const maxUpload = 64 << 20

type file struct {
	ID        string
	Filename  string
	Purpose   string
	Bytes     int64
	CreatedAt time.Time
	Content   []byte
	// lower is Content in lower case, made once at upload: a search scans
	// every file of a store under the fake's lock, and lower-casing each
	// file per search made a growing store (project memory under a load:
	// a file per call) the fake's own bottleneck within seconds.
	lower string
}

type fileObject struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

func (f *file) object() fileObject {
	return fileObject{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt.Unix(),
		Filename: f.Filename, Purpose: f.Purpose, Status: "processed"}
}

func (s *Server) uploadFile(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return badRequest("", "Invalid Content-Type header (%s), expected multipart/form-data.", r.Header.Get("Content-Type"))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("", "cannot read multipart body: %v", err)
	}
	var (
		purpose, filename string
		content           []byte
		haveFile          bool
	)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badRequest("", "cannot read multipart body: %v", err)
		}
		switch part.FormName() {
		case "purpose":
			b, err := io.ReadAll(io.LimitReader(part, 1024))
			if err != nil {
				return badRequest("purpose", "cannot read 'purpose': %v", err)
			}
			purpose = strings.TrimSpace(string(b))
		case "file":
			b, err := io.ReadAll(io.LimitReader(part, maxUpload+1))
			if err != nil {
				return badRequest("file", "cannot read 'file': %v", err)
			}
			if len(b) > maxUpload {
				return badRequest("file", "File is too large for fakeai (max %d bytes).", maxUpload)
			}
			// part.FileName() drops directories; keep the name as sent, the
			// server names uploads by their project-relative path.
			_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			content, filename, haveFile = b, params["filename"], true
		}
		_ = part.Close()
	}
	if !haveFile {
		return missingParam("file")
	}
	if purpose == "" {
		return missingParam("purpose")
	}
	if filename == "" {
		filename = "upload"
	}

	s.mu.Lock()
	f := s.faults
	throttled := s.throttle.record(f, s.clk.Now(), int64(len(content)))
	s.mu.Unlock()
	delay := f.UploadLatency.D()
	if throttled {
		s.count("uploads_throttled", 1)
		delay = time.Duration(float64(f.throttleBase()) * f.throttleFactor())
	}
	if err := s.wait(ctx, delay); err != nil {
		s.count("uploads_abandoned", 1)
		return nil // the client is gone; nothing was stored
	}

	lower := strings.ToLower(string(content))
	s.mu.Lock()
	fl := &file{ID: s.nextIDLocked("file-"), Filename: filename, Purpose: purpose,
		Bytes: int64(len(content)), CreatedAt: s.clk.Now(), Content: content, lower: lower}
	s.files[fl.ID] = fl
	s.fileOrder = append(s.fileOrder, fl.ID)
	s.mu.Unlock()
	s.count("files_uploaded", 1)
	s.count("bytes_uploaded", int64(len(content)))
	writeJSON(w, http.StatusOK, fl.object())
	return nil
}

func fileNotFound(id string) *apiError {
	return notFound("", "No such File object: %s", id)
}

func (s *Server) getFile(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	s.mu.Lock()
	f, ok := s.files[id]
	var obj fileObject
	if ok {
		obj = f.object()
	}
	s.mu.Unlock()
	if !ok {
		return fileNotFound(id)
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) fileContent(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	s.mu.Lock()
	f, ok := s.files[id]
	s.mu.Unlock()
	if !ok {
		return fileNotFound(id)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(f.Content) // Content is never mutated after upload
	return nil
}

func (s *Server) deleteFile(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	if err := s.wait(ctx, s.Faults().DeleteLatency.D()); err != nil {
		return nil
	}
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.files[id]
	if ok {
		delete(s.files, id)
		s.fileOrder = slices.DeleteFunc(s.fileOrder, func(x string) bool { return x == id })
	}
	s.mu.Unlock()
	if !ok {
		return fileNotFound(id)
	}
	s.count("files_deleted", 1)
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "file", "deleted": true})
	return nil
}

func (s *Server) listFiles(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	purpose := q.Get("purpose")
	s.mu.Lock()
	all := make([]fileObject, 0, len(s.fileOrder))
	for _, id := range s.fileOrder {
		if f := s.files[id]; purpose == "" || f.Purpose == purpose {
			all = append(all, f.object())
		}
	}
	s.mu.Unlock()
	page, more, e := paginate(all, func(o fileObject) string { return o.ID }, q, 10000)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, listPage(page, more, func(o fileObject) string { return o.ID }))
	return nil
}

// paginate applies OpenAI's cursor parameters (order, after, before, limit)
// to items of one kind (their IDs share a prefix). Default order is desc.
func paginate[T any](items []T, id func(T) string, q map[string][]string, maxLimit int) ([]T, bool, *apiError) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	limit := 20
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return nil, false, badRequest("limit", "Invalid 'limit': integer between 1 and %d expected, got %q.", maxLimit, l)
		}
		limit = n
	}
	// IDs grow with creation; sorting by them settles the order of objects
	// created concurrently (an ID is drawn before the object is stored).
	order := get("order")
	if order != "" && order != "asc" && order != "desc" {
		return nil, false, badRequest("order", "Invalid value for 'order': expected 'asc' or 'desc'.")
	}
	desc := order != "asc"
	items = slices.SortedStableFunc(slices.Values(items), func(a, b T) int { return strings.Compare(id(a), id(b)) })
	if desc {
		slices.Reverse(items)
	}
	// A cursor is a position in the order, not an object that must still
	// exist: a client that deletes while it pages (the server's crash
	// recovery does) must not see the listing end early. IDs grow with
	// creation, so a vanished cursor's place is found by comparing them.
	pos := func(cursor string) int {
		return slices.IndexFunc(items, func(t T) bool {
			if desc {
				return id(t) <= cursor
			}
			return id(t) >= cursor
		})
	}
	if after := get("after"); after != "" {
		i := pos(after)
		switch {
		case i < 0:
			items = nil
		case id(items[i]) == after:
			items = items[i+1:]
		default:
			items = items[i:]
		}
	}
	if before := get("before"); before != "" {
		if i := pos(before); i >= 0 {
			items = items[:i]
		}
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	return items, more, nil
}

func listPage[T any](page []T, more bool, id func(T) string) map[string]any {
	out := map[string]any{"object": "list", "data": page, "has_more": more, "first_id": nil, "last_id": nil}
	if len(page) > 0 {
		out["first_id"] = id(page[0])
		out["last_id"] = id(page[len(page)-1])
	}
	return out
}
