package fakeai

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFaultControl: POST /_fault never panics, answers 200 or 400, and
// leaves the fake with faults that validate, whatever the body.
func FuzzFaultControl(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"reset":true}`, `{"rate_limit":{"every":3,"paths":["POST /v1/files"]}}`,
		`{"stall":{"every":2},"response_duration":"340s"}`, `{"throttle":{"after_uploads":10,"factor":6.5}}`,
		`{"unknown":1}`, `{"store_limit":-1}`, `[]`, `null`, `{"stall":`,
	} {
		f.Add(s)
	}
	s := New()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/_fault", strings.NewReader(body)))
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Errorf("POST /_fault %q: status %d", body, rec.Code)
		}
		if err := s.Faults().Validate(); err != nil {
			t.Errorf("after POST /_fault %q the faults do not validate: %v", body, err)
		}
	})
}
