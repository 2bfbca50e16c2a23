package provider

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

func apiErr(status int, code, param, msg string) error {
	return fmt.Errorf("cannot create o3 response: %w", &openai.Error{StatusCode: status, Code: code, Param: param, Message: msg})
}

func TestGoneErrors(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		prevGone bool
		vsGone   bool
		vsIDs    string
	}{
		{"fake: previous response", apiErr(404, "previous_response_not_found", "previous_response_id", "Previous response with id 'resp_1' not found."), true, false, ""},
		{"openai 400 shape", apiErr(400, "previous_response_not_found", "previous_response_id", "Previous response with id 'resp_1' not found."), true, false, ""},
		{"404 by message only", apiErr(404, "", "", "Previous response with id 'resp_1' not found."), true, false, ""},
		{"store in file_search", apiErr(404, "", "tools", "Vector store with id 'vs_000000000003' not found."), false, true, "vs_000000000003"},
		{"store, other wording", apiErr(404, "", "", "No vector store found with id 'vs_abc'."), false, true, "vs_abc"},
		{"other 404", apiErr(404, "", "", "The model 'o9' does not exist"), false, false, ""},
		{"rate limit", apiErr(http.StatusTooManyRequests, "rate_limit_exceeded", "", "slow down"), false, false, ""},
		{"not an API error", fmt.Errorf("dial tcp: refused"), false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := PreviousResponseGone(tc.err); got != tc.prevGone {
				t.Errorf("PreviousResponseGone = %v, want %v", got, tc.prevGone)
			}
			ids, ok := VectorStoreGone(tc.err)
			if ok != tc.vsGone || strings.Join(ids, ",") != tc.vsIDs {
				t.Errorf("VectorStoreGone = %v %v, want %v %q", ids, ok, tc.vsGone, tc.vsIDs)
			}
		})
	}
}
