package vectorstore

import (
	"log/slog"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Defaults applied by [NewManager] to zero-valued [Options] fields.
const (
	// DefaultConcurrency is how many file batches are uploaded and polled at once
	// (throttled uploads ran 6–7× slower in one batch; 10 parallel batches
	// fixed that in the original server).
	DefaultConcurrency = 10
	// DefaultBatchMin is the largest file count sent as one batch: splitting
	// small sets costs more round trips than it saves.
	DefaultBatchMin = 20
	// DefaultFileConcurrency bounds the files one call reads and hashes at once.
	DefaultFileConcurrency = 16
	// DefaultMaxUploads bounds file uploads in flight across the whole
	// manager: every call, every batch. Unbounded, one 100-file overflow call
	// ran 76 uploads at once (10 batches of 8), and each answer burst made
	// ~150 goroutines runnable on a 2-vCPU machine; the stdio read loop then
	// waited ~9 ms for a P, and pings 20–75 ms. OpenAI's own SDKs upload 5 at
	// a time by default.
	DefaultMaxUploads = 16
	// DefaultRetries is how many times a failed upload, batch or delete is retried.
	DefaultRetries = 3
	// DefaultRetryBase is the first backoff; it doubles per attempt up to DefaultRetryMax.
	DefaultRetryBase = 500 * time.Millisecond
	// DefaultRetryMax caps one backoff, including a server's Retry-After.
	DefaultRetryMax = 30 * time.Second
	// DefaultRequestTimeout bounds one HTTP attempt against the provider.
	DefaultRequestTimeout = 2 * time.Minute
	// DefaultDeleteTimeout bounds one delete attempt; deletes run detached from requests.
	DefaultDeleteTimeout = 30 * time.Second
	// DefaultStoreTTL is how long a session store lives after its last use.
	DefaultStoreTTL = 6 * time.Hour
	// DefaultStoreLimit is OpenAI's per-project vector store cap.
	DefaultStoreLimit = 100
	// DefaultEvictHeadroom: eviction starts when StoreLimit-EvictHeadroom stores exist.
	DefaultEvictHeadroom = 5
	// DefaultEvictMinIdle protects stores used this recently from eviction: a
	// model call may still be searching a store after Attach returned.
	DefaultEvictMinIdle = 10 * time.Minute
	// DefaultSweepInterval is how often expired stores are looked for.
	DefaultSweepInterval = time.Minute
	// DefaultCreateGrace is how long a "creating" record may stay before it is
	// treated as left behind by a crash.
	DefaultCreateGrace = 10 * time.Minute
	// DefaultPollInterval is used when the provider sends no openai-poll-after-ms.
	DefaultPollInterval = time.Second
	// DefaultNamePrefix starts the name of every vector store this package creates.
	DefaultNamePrefix = "secondbrain"
)

// Options configure a [Manager]. The zero value of each field means its default.
type Options struct {
	// Clock drives TTLs, polling and backoff (scenario time). Default: wall clock.
	Clock clock.Clock
	// Logger receives lifecycle and upload records. Default: slog.Default().
	Logger *slog.Logger
	// Concurrency is how many file batches are in flight at once. Default 10.
	Concurrency int
	// BatchMin: at most this many files are sent as a single batch. Default 20.
	BatchMin int
	// BatchSize is the number of files per batch for larger sets. Zero splits
	// the files evenly into Concurrency batches (the original's behaviour).
	BatchSize int
	// FileConcurrency bounds the files one call reads and hashes at once. Default 16.
	FileConcurrency int
	// MaxUploads bounds file uploads in flight across the manager (all calls
	// and batches share it). Default 16.
	MaxUploads int
	// Retries per failed upload, batch or delete (after the first attempt).
	// Default 3; a negative value means no retries.
	Retries int
	// RetryBase and RetryMax shape the exponential backoff; a server's
	// Retry-After replaces the computed delay, capped at RetryMax.
	RetryBase, RetryMax time.Duration
	// RequestTimeout bounds each provider HTTP attempt. Default 2 min.
	RequestTimeout time.Duration
	// DeleteTimeout bounds each detached delete attempt. Default 30 s.
	DeleteTimeout time.Duration
	// StoreTTL: a session store unused this long is deleted. Default 6 h.
	StoreTTL time.Duration
	// StoreLimit is the provider's cap on vector stores. Default 100.
	StoreLimit int
	// EvictHeadroom: creating a store when StoreLimit-EvictHeadroom or more
	// exist first evicts least-recently-used idle session stores. Default 5;
	// negative means evict only at the limit.
	EvictHeadroom int
	// EvictMinIdle: stores used more recently than this are never evicted. Default 10 min.
	EvictMinIdle time.Duration
	// SweepInterval between TTL sweeps. Default 1 min.
	SweepInterval time.Duration
	// CreateGrace before an unfinished "creating" record counts as a crash leftover. Default 10 min.
	CreateGrace time.Duration
	// PollInterval when the provider gives no openai-poll-after-ms. Default 1 s.
	PollInterval time.Duration
	// NamePrefix of created stores; leftovers are found by it. Default "secondbrain".
	NamePrefix string
	// MemoryRollover: a memory store holding this many documents is retired
	// (still searched) and a new one created. Default 1000.
	MemoryRollover int
}

// DefaultMemoryRollover is the document count after which a memory store rolls over.
const DefaultMemoryRollover = 1000

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&o.Concurrency, DefaultConcurrency)
	setInt(&o.BatchMin, DefaultBatchMin)
	setInt(&o.FileConcurrency, DefaultFileConcurrency)
	setInt(&o.MaxUploads, DefaultMaxUploads)
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	setDur(&o.RetryBase, DefaultRetryBase)
	setDur(&o.RetryMax, DefaultRetryMax)
	setDur(&o.RequestTimeout, DefaultRequestTimeout)
	setDur(&o.DeleteTimeout, DefaultDeleteTimeout)
	setDur(&o.StoreTTL, DefaultStoreTTL)
	setInt(&o.StoreLimit, DefaultStoreLimit)
	switch {
	case o.EvictHeadroom == 0:
		o.EvictHeadroom = DefaultEvictHeadroom
	case o.EvictHeadroom < 0:
		o.EvictHeadroom = 0
	}
	if o.EvictHeadroom >= o.StoreLimit {
		o.EvictHeadroom = o.StoreLimit - 1
	}
	setDur(&o.EvictMinIdle, DefaultEvictMinIdle)
	setDur(&o.SweepInterval, DefaultSweepInterval)
	setDur(&o.CreateGrace, DefaultCreateGrace)
	setDur(&o.PollInterval, DefaultPollInterval)
	if o.NamePrefix == "" {
		o.NamePrefix = DefaultNamePrefix
	}
	setInt(&o.MemoryRollover, DefaultMemoryRollover)
	return o
}
