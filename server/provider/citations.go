package provider

import "encoding/json"

// parseCitations reads xAI's top-level "citations": a list of URLs (or of
// objects with a "url").
func parseCitations(raw string) []string {
	var urls []string
	if json.Unmarshal([]byte(raw), &urls) == nil {
		return urls
	}
	var objs []struct {
		URL string `json:"url"`
	}
	if json.Unmarshal([]byte(raw), &objs) == nil {
		for _, o := range objs {
			urls = append(urls, o.URL)
		}
	}
	return urls
}
