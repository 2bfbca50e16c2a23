package logship

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Bounds for [Query].
const (
	DefaultQueryLimit    = 100
	MaxQueryLimit        = 10000
	DefaultQueryMaxBytes = 1 << 20
	DefaultQueryTimeout  = 10 * time.Second
)

// ErrTruncated is returned by [Query], together with the records that fit,
// when the answer was larger than maxBytes.
var ErrTruncated = errors.New("logship: query answer truncated at its byte bound")

// Query runs a LogsQL query against VictoriaLogs at baseURL (POST
// /select/logsql/query) and returns at most limit records and about
// maxBytes of answer. It backs the search_mcp_debug_logs tool.
//
// limit <= 0 means DefaultQueryLimit and is capped at MaxQueryLimit;
// maxBytes <= 0 means DefaultQueryMaxBytes. When the answer is larger than
// maxBytes, the complete records that fit are returned with an error
// wrapping [ErrTruncated]. If ctx has no deadline, DefaultQueryTimeout
// applies. Secrets never reach VictoriaLogs, so the records need no further
// redaction.
func Query(ctx context.Context, baseURL, logsql string, limit, maxBytes int) ([]map[string]any, error) {
	if limit <= 0 {
		limit = DefaultQueryLimit
	}
	limit = min(limit, MaxQueryLimit)
	if maxBytes <= 0 {
		maxBytes = DefaultQueryMaxBytes
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultQueryTimeout)
		defer cancel()
	}
	form := url.Values{"query": {logsql}, "limit": {strconv.Itoa(limit)}}
	endpoint := strings.TrimRight(baseURL, "/") + "/select/logsql/query"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("cannot build LogsQL query to %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot run LogsQL query %q at %s: %w", logsql, baseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return nil, fmt.Errorf("cannot run LogsQL query %q at %s: status %s: %s",
			logsql, baseURL, resp.Status, bytes.TrimSpace(msg))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read LogsQL answer from %s: %w", baseURL, err)
	}
	truncated := len(body) > maxBytes
	if truncated {
		body = body[:maxBytes]
		if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
			body = body[:i+1]
		} else {
			body = nil
		}
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, maxBytes+1)
	for sc.Scan() && len(out) < limit {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			return out, fmt.Errorf("cannot decode LogsQL answer line from %s: %w", baseURL, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("cannot read LogsQL answer from %s: %w", baseURL, err)
	}
	if truncated {
		return out, fmt.Errorf("%d records kept of more than %d bytes: %w", len(out), maxBytes, ErrTruncated)
	}
	return out, nil
}
