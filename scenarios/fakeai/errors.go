package fakeai

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is OpenAI's error body: {"error":{"message","type","param","code"}}.
// Param and Code are JSON null when empty, as the real API sends them.
type apiError struct {
	Status  int
	Message string
	Type    string
	Param   string
	Code    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

func (e *apiError) body() []byte {
	var inner struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	inner.Message, inner.Type = e.Message, e.Type
	if e.Param != "" {
		inner.Param = &e.Param
	}
	if e.Code != "" {
		inner.Code = &e.Code
	}
	b, _ := json.Marshal(map[string]any{"error": inner}) // plain strings: cannot fail
	return b
}

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

func missingParam(param string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param,
		Message: fmt.Sprintf("Missing required parameter: '%s'.", param)}
}

func notFound(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

func invalidJSON(err error) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error",
		Message: fmt.Sprintf("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. Parse error: %v)", err)}
}

func invalidURL(r *http.Request) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error",
		Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)}
}

func rateLimited() *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Type: "requests", Code: "rate_limit_exceeded",
		Message: "Rate limit reached (injected by fakeai). Please try again later."}
}

func serverError(status int) *apiError {
	return &apiError{Status: status, Type: "server_error",
		Message: "The server had an error while processing your request (injected by fakeai). Sorry about that!"}
}

func closedError() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Message: "fakeai is shutting down"}
}

// storeLimitError models the project-level cap on vector stores that the
// original server hit ("Vector Store Limit Reached"). OpenAI does
// not document the exact text; this keeps the documented shape and status.
func storeLimitError(limit int) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "vector_store_limit_exceeded",
		Message: fmt.Sprintf("You have reached the maximum number of vector stores allowed for this project (%d). Delete unused vector stores and try again.", limit)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Type: "server_error",
			Message: fmt.Sprintf("fakeai cannot encode its answer: %v", err)})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
