package provider

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/openai/openai-go/v3"
)

// PreviousResponseGone reports whether err says the previous_response_id of
// a Responses call is unknown to the provider: OpenAI drops stored responses
// after 30 days, and an in-process fake forgets them at every restart. The
// conversation cannot continue from it; the caller must start afresh.
func PreviousResponseGone(err error) bool {
	var e *openai.Error
	if !errors.As(err, &e) || (e.StatusCode != http.StatusNotFound && e.StatusCode != http.StatusBadRequest) {
		return false
	}
	if e.Code == "previous_response_not_found" || e.Param == "previous_response_id" {
		return true
	}
	msg := strings.ToLower(e.Message)
	return e.StatusCode == http.StatusNotFound && strings.Contains(msg, "previous response")
}

var vectorStoreID = regexp.MustCompile(`vs_[A-Za-z0-9_-]+`)

// VectorStoreGone reports whether err says a vector store given to
// file_search does not exist, and returns the store ids the message names
// (possibly none: the caller then checks each store it sent).
func VectorStoreGone(err error) (ids []string, ok bool) {
	var e *openai.Error
	if !errors.As(err, &e) || (e.StatusCode != http.StatusNotFound && e.StatusCode != http.StatusBadRequest) {
		return nil, false
	}
	msg := strings.ToLower(e.Message)
	if !strings.Contains(msg, "vector store") || (!strings.Contains(msg, "not found") && !strings.Contains(msg, "no vector store")) {
		return nil, false
	}
	return vectorStoreID.FindAllString(e.Message, -1), true
}
