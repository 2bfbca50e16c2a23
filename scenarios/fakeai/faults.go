package fakeai

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakehttp"
)

// Defaults applied when the matching [Faults] field is zero.
const (
	DefaultThrottleFactor = 7.0
	DefaultRecovery       = 4 * time.Minute
	MinRecovery           = 3 * time.Minute // throttling was seen to recover after 3–5 minutes
	MaxRecovery           = 5 * time.Minute
	DefaultThrottleBase   = 100 * time.Millisecond
	DefaultStoreLimit     = 100
	DefaultRetryAfter     = time.Second
	DefaultErrorStatus    = 500
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("340s", "1m30s"); a bare JSON number is read as seconds.
type Duration = fakehttp.Duration

// Rule picks which requests a fault hits. A zero Rule is off.
//
// Count is how many matching requests it hits in total (a negative Count
// means no limit). Every, when > 0, hits only every Every-th matching request
// (Every-th, 2·Every-th, …); with Count 0 and Every > 0 there is no limit.
// Paths are patterns, each "[METHOD ]PATH": PATH is a prefix of the request
// path ("/v1/files"), or a path.Match glob when it holds '*'
// ("/v1/vector_stores/*/file_batches"). An empty Paths list means every
// route under /v1/ (the rule's own default for delete_stall).
//
// Setting faults (SetFaults or POST /_fault) restarts every rule's counting.
type Rule struct {
	Count int      `json:"count,omitempty"`
	Every int      `json:"every,omitempty"`
	Paths []string `json:"paths,omitempty"`
	// RetryAfter is sent with 429s (rate_limit only), in scenario time; the
	// Retry-After and Retry-After-Ms headers carry its wall-clock length.
	RetryAfter Duration `json:"retry_after,omitempty"`
	// Status is the 5xx code sent (server_errors only), default 500.
	Status int `json:"status,omitempty"`
}

func (r Rule) active() bool { return r.Count != 0 || r.Every > 0 }

// matches reports whether the rule's patterns select method+path.
func (r Rule) matches(method, p string, defaults []string) bool {
	pats := r.Paths
	if len(pats) == 0 {
		pats = defaults
	}
	if len(pats) == 0 {
		return true
	}
	for _, pat := range pats {
		if patternMatches(pat, method, p) {
			return true
		}
	}
	return false
}

func patternMatches(pat, method, p string) bool {
	pat = strings.TrimSpace(pat)
	if m, rest, ok := strings.Cut(pat, " "); ok {
		if !strings.EqualFold(m, method) {
			return false
		}
		pat = strings.TrimSpace(rest)
	}
	if strings.Contains(pat, "*") {
		ok, err := path.Match(pat, p)
		return err == nil && ok
	}
	return strings.HasPrefix(p, pat)
}

// ruleState counts matches and hits of one rule since faults were last set.
type ruleState struct{ matched, hit int }

// take decides, for one matching request, whether the rule hits it.
func (st *ruleState) take(r Rule) bool {
	if !r.active() {
		return false
	}
	st.matched++
	if r.Count > 0 && st.hit >= r.Count {
		return false
	}
	if r.Every > 0 && st.matched%r.Every != 0 {
		return false
	}
	st.hit++
	return true
}

// Faults is the fault model of one fake. Its zero value injects nothing and
// uses the Default* constants. All durations are scenario time, measured on
// the clock given to [New]. Over JSON (POST /_fault) a partial object
// changes only the keys it holds; {"reset":true} first restores the faults
// the server was created with.
type Faults struct {
	// Fixed latency added to each request of a kind before it is answered.
	UploadLatency      Duration `json:"upload_latency,omitempty"`       // POST /v1/files
	ResponseLatency    Duration `json:"response_latency,omitempty"`     // POST /v1/responses
	PollLatency        Duration `json:"poll_latency,omitempty"`         // GET of a response, vector store, vector-store file or batch
	ChatLatency        Duration `json:"chat_latency,omitempty"`         // POST /v1/chat/completions
	DeleteLatency      Duration `json:"delete_latency,omitempty"`       // DELETE of anything
	VectorStoreLatency Duration `json:"vector_store_latency,omitempty"` // POST on /v1/vector_stores/… (create, attach, batch, search)

	// The upload throttle (seen: uploads 6–7× slower, 15 s → 104–123 s,
	// with a 3–5 minute recovery window). It engages once ThrottleAfterUploads
	// uploads (or ThrottleAfterBytes bytes) arrived within one Recovery
	// window; while engaged every upload waits ThrottleFactor × max(
	// UploadLatency, ThrottleBase). It disengages once no upload arrived for
	// Recovery. Both thresholds 0 = no throttle.
	ThrottleAfterUploads int      `json:"throttle_after_uploads,omitempty"`
	ThrottleAfterBytes   int64    `json:"throttle_after_bytes,omitempty"`
	ThrottleFactor       float64  `json:"throttle_factor,omitempty"` // default 7
	ThrottleBase         Duration `json:"throttle_base,omitempty"`   // default UploadLatency, or 100ms if that is 0
	Recovery             Duration `json:"recovery,omitempty"`        // default 4m; Validate allows 3m–5m

	// RateLimit answers 429 with Retry-After (default 1s) to the requests it hits.
	RateLimit Rule `json:"rate_limit,omitzero"`
	// ServerErrors answers 5xx (default 500) to the requests it hits: a
	// burst is Count consecutive matching requests.
	ServerErrors Rule `json:"server_errors,omitzero"`
	// Stall holds the requests it hits until their client gives up (the
	// request context ends) or the server is closed. Nothing is answered.
	Stall Rule `json:"stall,omitzero"`
	// DeleteStall is Stall for deletes; its default paths are
	// "DELETE /v1/vector_stores/*" and "DELETE /v1/files/*". A stalled
	// delete deletes nothing.
	DeleteStall Rule `json:"delete_stall,omitzero"`

	// StoreLimit caps live vector stores (default 100; negative = no cap).
	// Creating one more answers OpenAI's 400 invalid_request_error.
	StoreLimit int `json:"store_limit,omitempty"`

	// ResponseDuration is how long a background response stays queued
	// (first tenth) then in_progress before it completes. 0 = completed on
	// the first poll.
	ResponseDuration Duration `json:"response_duration,omitempty"`
	// BatchDuration is how long vector-store files and file batches stay
	// in_progress after being attached. 0 = completed on the first poll.
	BatchDuration Duration `json:"batch_duration,omitempty"`
	// FailFiles are path.Match patterns on file names (whole name or base
	// name); a matching file ends "failed" in any vector store.
	FailFiles []string `json:"fail_files,omitempty"`

	// CallTools (default true) makes the fake answer with a call to the
	// function tools search_task_files / search_project_history when they
	// are offered and the current turn holds no tool result yet.
	CallTools *bool `json:"call_tools,omitempty"`
}

// CallsTools reports the effective call_tools setting.
func (f Faults) CallsTools() bool { return f.CallTools == nil || *f.CallTools }

func (f Faults) throttleFactor() float64 {
	if f.ThrottleFactor <= 0 {
		return DefaultThrottleFactor
	}
	return f.ThrottleFactor
}

func (f Faults) recovery() time.Duration {
	if f.Recovery <= 0 {
		return DefaultRecovery
	}
	return f.Recovery.D()
}

func (f Faults) throttleBase() time.Duration {
	switch {
	case f.ThrottleBase > 0:
		return f.ThrottleBase.D()
	case f.UploadLatency > 0:
		return f.UploadLatency.D()
	default:
		return DefaultThrottleBase
	}
}

func (f Faults) storeLimit() int {
	if f.StoreLimit == 0 {
		return DefaultStoreLimit
	}
	return f.StoreLimit
}

func (f Faults) failsFile(name string) bool {
	for _, p := range f.FailFiles {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		if ok, _ := path.Match(p, path.Base(name)); ok {
			return true
		}
	}
	return false
}

// Validate reports settings the fake cannot honour.
func (f Faults) Validate() error {
	for _, d := range []Duration{f.UploadLatency, f.ResponseLatency, f.PollLatency, f.ChatLatency, f.DeleteLatency,
		f.VectorStoreLatency, f.ThrottleBase, f.Recovery, f.ResponseDuration, f.BatchDuration, f.RateLimit.RetryAfter} {
		if d < 0 {
			return fmt.Errorf("negative duration %s", d.D())
		}
	}
	if r := f.Recovery.D(); r != 0 && (r < MinRecovery || r > MaxRecovery) {
		return fmt.Errorf("recovery %s is outside the observed %s–%s window", r, MinRecovery, MaxRecovery)
	}
	if f.ThrottleFactor < 0 {
		return fmt.Errorf("throttle_factor %v must not be negative", f.ThrottleFactor)
	}
	if s := f.ServerErrors.Status; s != 0 && (s < 500 || s > 599) {
		return fmt.Errorf("server_errors.status %d is not a 5xx code", s)
	}
	for _, p := range f.FailFiles {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("fail_files pattern %q: %w", p, err)
		}
	}
	return nil
}

// uploadThrottle tracks recent uploads on the scenario clock.
type uploadThrottle struct {
	recent      []uploadEvent // uploads within the last recovery window
	engaged     bool
	last        time.Time
	engagements int64
}

type uploadEvent struct {
	at    time.Time
	bytes int64
}

// record notes an upload at now and reports whether it is throttled.
func (t *uploadThrottle) record(f Faults, now time.Time, n int64) bool {
	win := f.recovery()
	if t.engaged && now.Sub(t.last) >= win {
		t.engaged = false
		t.recent = t.recent[:0]
	}
	keep := t.recent[:0]
	for _, e := range t.recent {
		if now.Sub(e.at) < win {
			keep = append(keep, e)
		}
	}
	t.recent = append(keep, uploadEvent{at: now, bytes: n})
	t.last = now
	if !t.engaged && (f.ThrottleAfterUploads > 0 || f.ThrottleAfterBytes > 0) {
		var total int64
		for _, e := range t.recent {
			total += e.bytes
		}
		if (f.ThrottleAfterUploads > 0 && len(t.recent) > f.ThrottleAfterUploads) ||
			(f.ThrottleAfterBytes > 0 && total > f.ThrottleAfterBytes) {
			t.engaged = true
			t.engagements++
		}
	}
	return t.engaged
}

// isEngaged reports the throttle state at now without recording an upload.
func (t *uploadThrottle) isEngaged(f Faults, now time.Time) bool {
	return t.engaged && now.Sub(t.last) < f.recovery()
}
