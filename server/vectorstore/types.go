package vectorstore

import (
	"context"
	"time"
)

// File is one overflow file the context packer could not inline.
type File struct {
	Path    string    // absolute path on disk
	Size    int64     // bytes
	ModTime time.Time // modification time when packed
}

// AttachRequest asks for files to be made searchable for one session.
type AttachRequest struct {
	Project   string // absolute project root; dedup and memory are per project
	Tool      string // MCP tool name (sessions are keyed by project, tool, session)
	SessionID string
	Files     []File
}

// FailedFile names a file that could not be uploaded or indexed, and why.
type FailedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Attachment is what Attach made available to the model.
type Attachment struct {
	VectorStoreIDs []string     `json:"vector_store_ids"`
	Uploaded       int          `json:"uploaded"` // files uploaded by this call
	Reused         int          `json:"reused"`   // files already uploaded (same content hash)
	Failed         []FailedFile `json:"failed,omitempty"`
	// ReplacedStore is the session's previous store when the provider no
	// longer had it (expired, deleted out of band, a fake restarted): its
	// records were dropped and every file was attached to a new store.
	ReplacedStore string `json:"replaced_store,omitempty"`
}

// SearchHit is one chunk returned by a vector-store search.
type SearchHit struct {
	FileID   string  `json:"file_id"`
	Filename string  `json:"filename"`
	Score    float64 `json:"score"`
	Text     string  `json:"text"`
}

// Attacher is what the server's tool handlers need from the vector-store layer.
// Implementations must return promptly when ctx ends, leaving nothing held.
type Attacher interface {
	Attach(ctx context.Context, req AttachRequest) (Attachment, error)
	Search(ctx context.Context, vectorStoreIDs []string, query string, maxResults int) ([]SearchHit, error)
}
