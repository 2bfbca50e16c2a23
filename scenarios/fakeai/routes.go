package fakeai

import (
	"context"
	"net/http"
)

// handlerFunc serves one route; a non-nil error is written in OpenAI's shape.
type handlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request) *apiError

func (s *Server) mux() *http.ServeMux {
	m := http.NewServeMux()
	h := func(pattern string, fn handlerFunc) {
		m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if e := fn(r.Context(), w, r); e != nil {
				switch {
				case e.Status == http.StatusNotFound:
					s.count("not_found", 1)
				case e.Status >= 400 && e.Status < 500:
					s.count("bad_requests", 1)
				}
				writeError(w, e)
			}
		})
	}
	h("/", func(_ context.Context, _ http.ResponseWriter, r *http.Request) *apiError { return invalidURL(r) })

	h("GET /v1/models", s.listModels)
	h("GET /v1/models/{id}", s.getModel)

	h("POST /v1/files", s.uploadFile)
	h("GET /v1/files", s.listFiles)
	h("GET /v1/files/{id}", s.getFile)
	h("DELETE /v1/files/{id}", s.deleteFile)
	h("GET /v1/files/{id}/content", s.fileContent)

	h("POST /v1/vector_stores", s.createStore)
	h("GET /v1/vector_stores", s.listStores)
	h("GET /v1/vector_stores/{vs}", s.getStore)
	h("POST /v1/vector_stores/{vs}", s.updateStore)
	h("DELETE /v1/vector_stores/{vs}", s.deleteStore)
	h("POST /v1/vector_stores/{vs}/search", s.searchStore)
	h("POST /v1/vector_stores/{vs}/files", s.attachFile)
	h("GET /v1/vector_stores/{vs}/files", s.listStoreFiles)
	h("GET /v1/vector_stores/{vs}/files/{id}", s.getStoreFile)
	h("DELETE /v1/vector_stores/{vs}/files/{id}", s.detachFile)
	h("POST /v1/vector_stores/{vs}/file_batches", s.createBatch)
	h("GET /v1/vector_stores/{vs}/file_batches/{id}", s.getBatch)
	h("POST /v1/vector_stores/{vs}/file_batches/{id}/cancel", s.cancelBatch)
	h("GET /v1/vector_stores/{vs}/file_batches/{id}/files", s.listBatchFiles)

	h("POST /v1/responses", s.createResponse)
	h("GET /v1/responses/{id}", s.getResponse)
	h("DELETE /v1/responses/{id}", s.deleteResponse)
	h("POST /v1/responses/{id}/cancel", s.cancelResponse)

	h("POST /v1/chat/completions", s.chatCompletion)
	return m
}

func (s *Server) route(_ context.Context, w http.ResponseWriter, r *http.Request) {
	s.routes.ServeHTTP(w, r)
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) listModels(_ context.Context, w http.ResponseWriter, _ *http.Request) *apiError {
	data := make([]modelObject, 0, len(s.models))
	for _, id := range s.models {
		data = append(data, modelObject{ID: id, Object: "model", Created: 1700000000, OwnedBy: "fakeai"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

func (s *Server) getModel(_ context.Context, w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	for _, m := range s.models {
		if m == id {
			writeJSON(w, http.StatusOK, modelObject{ID: id, Object: "model", Created: 1700000000, OwnedBy: "fakeai"})
			return nil
		}
	}
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
		Message: "The model '" + id + "' does not exist or you do not have access to it."}
}
