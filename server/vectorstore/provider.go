package vectorstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// retry runs fn until it succeeds, fails permanently, exhausts m.o.Retries, or
// ctx ends. The SDK's own retries are switched off (see reqOpts) because they
// sleep on the wall clock, ignore scenario time and cannot be bounded as a
// whole; here every wait is a clock.Sleep that returns when ctx ends.
func (m *Manager) retry(ctx context.Context, fn func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
		if attempt >= m.o.Retries || !retryable(err) {
			return err
		}
		if serr := clock.Sleep(ctx, m.o.Clock, m.backoff(attempt, err)); serr != nil {
			return errors.Join(serr, err)
		}
	}
}

// backoff is RetryBase·2^attempt capped at RetryMax, replaced by the server's
// Retry-After-Ms / Retry-After when it sent one (OpenAI's upload throttling
// recovers after a 3–5 minute window; hammering it only prolongs it).
func (m *Manager) backoff(attempt int, err error) time.Duration {
	if d, ok := retryAfter(err); ok {
		return min(m.fromWall(d), m.o.RetryMax)
	}
	d := m.o.RetryBase << min(attempt, 20)
	return min(d, m.o.RetryMax)
}

func retryAfter(err error) (time.Duration, bool) {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.Response == nil {
		return 0, false
	}
	h := apiErr.Response.Header
	if ms, perr := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); perr == nil && ms >= 0 {
		return time.Duration(ms * float64(time.Millisecond)), true
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, perr := strconv.ParseFloat(v, 64); perr == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, perr := http.ParseTime(v); perr == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// retryable reports whether an error may go away on its own: throttling,
// server errors, timeouts and connection failures. Other 4xx answers will not.
func retryable(err error) bool {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		s := apiErr.StatusCode
		return s == http.StatusRequestTimeout || s == http.StatusConflict || s == http.StatusTooManyRequests || s >= 500
	}
	return !errors.Is(err, context.Canceled)
}

func statusOf(err error) int {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

func isNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// isDefinite reports whether the provider answered with a client error, so
// the object was certainly not created.
func isDefinite(err error) bool {
	s := statusOf(err)
	return s >= 400 && s < 500 && s != 408 && s != 429
}

// isStoreLimit recognises the provider refusing a new vector store because the
// project's cap is reached (100 stores on the accounts it was seen on). OpenAI does not document the exact
// shape; the code and the message are both checked.
func isStoreLimit(err error) bool {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode == http.StatusTooManyRequests {
		return false
	}
	if strings.Contains(apiErr.Code, "vector_store") && strings.Contains(apiErr.Code, "limit") {
		return true
	}
	msg := strings.ToLower(apiErr.Message)
	return strings.Contains(msg, "maximum number of vector stores")
}

// indexable lists the extensions OpenAI's file_search accepts (its docs,
// "Supported files"). Anything else is uploaded with ".txt" appended — the
// original silently skipped .yaml, .toml, .rs and extension-less files.
var indexable = map[string]bool{
	".c": true, ".cpp": true, ".cs": true, ".css": true, ".doc": true, ".docx": true,
	".go": true, ".html": true, ".java": true, ".js": true, ".json": true, ".md": true,
	".pdf": true, ".php": true, ".pptx": true, ".py": true, ".rb": true, ".sh": true,
	".tex": true, ".ts": true, ".txt": true,
}

// uploadName is the filename sent to the provider for a file at p.
func uploadName(p string) string {
	base := path.Base(strings.ReplaceAll(p, "\\", "/"))
	if indexable[strings.ToLower(path.Ext(base))] {
		return base
	}
	return base + ".txt"
}

// pollAfter reads the provider's suggested poll delay.
func (m *Manager) pollAfter(raw *http.Response) time.Duration {
	if raw != nil {
		if ms, err := strconv.ParseInt(raw.Header.Get("openai-poll-after-ms"), 10, 64); err == nil && ms > 0 {
			return min(m.fromWall(time.Duration(ms)*time.Millisecond), m.o.RetryMax)
		}
	}
	return m.o.PollInterval
}

// fromWall converts a wall-clock duration sent by the provider (Retry-After,
// openai-poll-after-ms) to scenario time when the clock is scaled, so that a
// 60× replay waits as long, in real time, as the provider asked.
func (m *Manager) fromWall(d time.Duration) time.Duration {
	if s, ok := m.o.Clock.(interface{ Scale() float64 }); ok && s.Scale() > 1 {
		return time.Duration(float64(d) * s.Scale())
	}
	return d
}

// opts are added to every provider call: no SDK retries (see retry) and a
// per-attempt timeout so that no call waits forever on a stalled provider.
func (m *Manager) opts(extra ...option.RequestOption) []option.RequestOption {
	o := []option.RequestOption{option.WithMaxRetries(0), option.WithRequestTimeout(m.o.RequestTimeout)}
	return append(o, extra...)
}

// deleteProviderStore deletes a store; "not found" counts as deleted.
func (m *Manager) deleteProviderStore(ctx context.Context, storeID string) error {
	return m.retry(ctx, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, m.o.DeleteTimeout)
		defer cancel()
		_, err := m.client.VectorStores.Delete(actx, storeID, m.opts()...)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("cannot delete vector store %s: %w", storeID, err)
		}
		return nil
	})
}

// deleteProviderFile deletes an uploaded file; "not found" counts as deleted.
func (m *Manager) deleteProviderFile(ctx context.Context, fileID string) error {
	return m.retry(ctx, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, m.o.DeleteTimeout)
		defer cancel()
		_, err := m.client.Files.Delete(actx, fileID, m.opts()...)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("cannot delete file %s: %w", fileID, err)
		}
		return nil
	})
}
