package logship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// ErrUndelivered is wrapped by Close when records were lost at shutdown.
var ErrUndelivered = errors.New("logship: records undelivered")

func undeliveredErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUndelivered, err)
	}
	return ErrUndelivered
}

// Defaults for [ShipperOptions].
const (
	DefaultShipQueueRecords = 16384
	DefaultShipQueueBytes   = 8 << 20
	DefaultBatchRecords     = 1000
	DefaultBatchBytes       = 1 << 20
	DefaultFlushInterval    = time.Second
	DefaultRequestTimeout   = 5 * time.Second
	DefaultMinBackoff       = 100 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultNoticeInterval   = 10 * time.Second
	DefaultApp              = "secondbrain"
)

// DefaultStreamFields are VictoriaLogs stream fields: low-cardinality
// fields that group records into streams.
var DefaultStreamFields = []string{KeyApp, KeyComponent}

// ShipperOptions configures [StartShipper]. Zero values mean the defaults.
type ShipperOptions struct {
	// URL is VictoriaLogs' base URL, e.g. http://127.0.0.1:9428. Required.
	URL string
	// Level is compared in Enabled; nil means a fresh LevelVar at Info.
	Level *slog.LevelVar
	// StreamFields go to ?_stream_fields=; nil means DefaultStreamFields.
	StreamFields []string
	// App is the value of the "app" field added to every record; "" means
	// DefaultApp.
	App string
	// MaxQueueRecords and MaxQueueBytes bound the queue. When either is
	// reached, the newest record is dropped (see doc.go, "Drop policy").
	MaxQueueRecords int
	MaxQueueBytes   int
	// BatchRecords and BatchBytes cap one POST; a batch is sent when either
	// is reached or FlushInterval after its first record was queued.
	BatchRecords  int
	BatchBytes    int
	FlushInterval time.Duration
	// RequestTimeout bounds each POST.
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential wait (with jitter)
	// between attempts while the sink is down.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts > 0 drops a batch as "sink_error" after that many failed
	// attempts. 0 retries until Close's deadline: while the sink is down the
	// queue fills and new records are dropped instead.
	MaxAttempts int
	// Notices receives the rate-limited "dropping records" notice; normally
	// the [Stderr] handler. It must never lead back to this shipper. nil
	// means no notices.
	Notices slog.Handler
	// NoticeInterval is the minimum time between two notices.
	NoticeInterval time.Duration
	// HTTPClient sends the POSTs; nil means a client of its own.
	HTTPClient *http.Client
	// Clock drives the flush timer, backoff and notice rate limit; nil
	// means the wall clock.
	Clock clock.Clock
	// Redactor removes secrets; nil means NewRedactor() (patterns only).
	Redactor *Redactor
	// Sync is the canary mode "sync-log": DELIBERATELY BLOCKING. Each record
	// is POSTed on the caller's goroutine under a mutex, exactly like the
	// original project's bug: a slow sink makes every log call as slow as
	// itself. Never use it outside the harness's canary scenarios.
	Sync bool
}

func (o *ShipperOptions) fill() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("cannot use VictoriaLogs URL %q: want http(s)://host:port", o.URL)
	}
	if o.Level == nil {
		o.Level = new(slog.LevelVar)
	}
	if o.StreamFields == nil {
		o.StreamFields = DefaultStreamFields
	}
	if o.App == "" {
		o.App = DefaultApp
	}
	setDefault(&o.MaxQueueRecords, DefaultShipQueueRecords)
	setDefault(&o.MaxQueueBytes, DefaultShipQueueBytes)
	setDefault(&o.BatchRecords, DefaultBatchRecords)
	setDefault(&o.BatchBytes, DefaultBatchBytes)
	setDefault(&o.FlushInterval, DefaultFlushInterval)
	setDefault(&o.RequestTimeout, DefaultRequestTimeout)
	setDefault(&o.MinBackoff, DefaultMinBackoff)
	setDefault(&o.MaxBackoff, DefaultMaxBackoff)
	setDefault(&o.NoticeInterval, DefaultNoticeInterval)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.HTTPClient == nil {
		// Our own transport: the shipper must not compete with the provider
		// calls for a shared connection pool (a shared pool was suspected of stalling the original server).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2
		o.HTTPClient = &http.Client{Transport: t}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Redactor == nil {
		o.Redactor = NewRedactor()
	}
	return nil
}

func setDefault[T int | time.Duration](p *T, d T) {
	if *p <= 0 {
		*p = d
	}
}

// Shipper is a [slog.Handler] that ships records to VictoriaLogs'
// JSON-lines API without ever making the caller wait for the network.
//
// Handle encodes and redacts the record on the caller's goroutine and
// appends it to a bounded queue without waiting. One shipper goroutine,
// started by [StartShipper] and stopped by [Shipper.Close], batches the queue
// by size and time into POST {URL}/insert/jsonline, with a timeout per
// request and retries with backoff while the sink is down. No lock is held
// during I/O.
//
// Handlers returned by WithAttrs and WithGroup share queue, goroutine,
// level and counters. All methods are safe for concurrent use.
type Shipper struct {
	core *shipCore
	enc  *encNode
}

type shipCore struct {
	o         ShipperOptions
	insertURL string
	q         *lineQueue

	runCtx    context.Context // ends when Close gives up: aborts requests and backoff
	cancelRun context.CancelFunc
	closing   chan struct{} // closed by Close: drain and exit
	closeOnce sync.Once
	done      chan struct{} // closed when the shipper goroutine has exited

	batches, failed, retries, notices atomic.Int64
	unnoticed                         atomic.Int64 // drops not yet announced
	lastNotice                        atomic.Int64 // unix ns of the last notice

	latMu sync.Mutex // guards lat; held only to record or read it
	lat   *hdrhistogram.Histogram

	syncMu sync.Mutex // sync mode only: one inline POST at a time
}

var _ slog.Handler = (*Shipper)(nil)

// StartShipper checks o and starts the shipper goroutine (none in Sync
// mode). Call Close to flush and stop it.
func StartShipper(o ShipperOptions) (*Shipper, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	c := &shipCore{
		o:       o,
		q:       newLineQueue(o.MaxQueueRecords, o.MaxQueueBytes),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		lat:     hdrhistogram.New(1000, int64(10*time.Minute), 3),
	}
	c.insertURL = strings.TrimRight(o.URL, "/") + "/insert/jsonline?_stream_fields=" +
		url.QueryEscape(strings.Join(o.StreamFields, ","))
	c.runCtx, c.cancelRun = context.WithCancel(context.Background())
	hopts := &slog.HandlerOptions{
		Level: o.Level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 {
				// VictoriaLogs' own names, so no ?_msg_field= is needed.
				switch a.Key {
				case slog.MessageKey:
					a.Key = "_msg"
				case slog.TimeKey:
					a.Key = "_time"
				}
			}
			return o.Redactor.ReplaceAttr(groups, a)
		},
	}
	app := []slog.Attr{slog.String(KeyApp, o.App)}
	base := func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, hopts).WithAttrs(app) }
	if o.Sync {
		close(c.done)
	} else {
		// Labelled so the harness's profiles classify it as background work.
		go pprof.Do(context.Background(), pprof.Labels("path", "background", "component", "shipper"), func(context.Context) { c.run() })
	}
	return &Shipper{core: c, enc: newEncNode(base)}, nil
}

// Enabled reports whether level is at or above the shipper's LevelVar.
func (s *Shipper) Enabled(_ context.Context, level slog.Level) bool {
	return level >= s.core.o.Level.Level()
}

// Handle encodes r and queues it (in Sync mode: POSTs it). It returns nil
// when the record is dropped: drops are counted and announced on the
// Notices handler at most once per NoticeInterval. ctx is not consulted, so a
// cancelled request still gets its records shipped.
func (s *Shipper) Handle(ctx context.Context, r slog.Record) error {
	c := s.core
	line, err := s.enc.encode(ctx, r, c.o.Redactor)
	switch {
	case err != nil:
		c.q.dropUnqueued(DropEncodeError)
		c.unnoticed.Add(1)
	case c.o.Sync:
		return c.postSync(line)
	default:
		if reason, ok := c.q.push(line); !ok && reason != DropShutdown {
			c.unnoticed.Add(1)
		}
	}
	if c.unnoticed.Load() > 0 {
		c.maybeNotice()
	}
	return nil
}

// WithAttrs returns a handler sharing this one's queue and counters.
func (s *Shipper) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return s
	}
	return &Shipper{core: s.core, enc: s.enc.withAttrs(attrs)}
}

// WithGroup returns a handler sharing this one's queue and counters;
// WithGroup("") returns s.
func (s *Shipper) WithGroup(name string) slog.Handler {
	if name == "" {
		return s
	}
	return &Shipper{core: s.core, enc: s.enc.withGroup(name)}
}

// Level returns the LevelVar Enabled compares against.
func (s *Shipper) Level() *slog.LevelVar { return s.core.o.Level }

// Stats returns a consistent snapshot of the counters.
func (s *Shipper) Stats() ShipperStats {
	c := s.core
	mode := "async"
	if c.o.Sync {
		mode = "sync-log"
	}
	st := ShipperStats{
		SinkStats:      sinkStats(mode, c.q),
		Batches:        c.batches.Load(),
		FailedRequests: c.failed.Load(),
		Retries:        c.retries.Load(),
		Notices:        c.notices.Load(),
	}
	c.latMu.Lock()
	st.BatchLatency = LatencyStats{
		Count: c.lat.TotalCount(),
		P50ms: float64(c.lat.ValueAtQuantile(50)) / 1e6,
		P90ms: float64(c.lat.ValueAtQuantile(90)) / 1e6,
		P99ms: float64(c.lat.ValueAtQuantile(99)) / 1e6,
		MaxMs: float64(c.lat.Max()) / 1e6,
	}
	c.latMu.Unlock()
	return st
}

// Close stops accepting records (later ones are dropped as "shutdown") and
// ships what is queued until the queue is empty or ctx ends, like
// http.Server.Shutdown. If ctx ends first, the in-flight request is
// aborted, everything not delivered is dropped as "shutdown", and Close
// returns an error wrapping [ErrUndelivered] and ctx.Err() that says how
// many records were lost. The shipper goroutine has exited when Close
// returns. Close is idempotent.
func (s *Shipper) Close(ctx context.Context) error {
	c := s.core
	c.closeOnce.Do(func() {
		c.q.close()
		close(c.closing)
	})
	select {
	case <-c.done:
	case <-ctx.Done():
		c.cancelRun()
		<-c.done // every wait in run honours runCtx, so this is prompt
	}
	c.cancelRun()
	st := s.Stats()
	if lost := st.Dropped[DropShutdown.String()] + st.Pending; lost > 0 {
		return fmt.Errorf("cannot flush logs to VictoriaLogs at %s: %d records undelivered: %w",
			c.o.URL, lost, undeliveredErr(ctx))
	}
	return nil
}

// maybeNotice sends the rate-limited drop notice. It runs on a caller's
// goroutine, so it must not block: Notices is the async stderr handler.
func (c *shipCore) maybeNotice() {
	if c.o.Notices == nil {
		return
	}
	now := c.o.Clock.Now()
	last := c.lastNotice.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < c.o.NoticeInterval {
		return
	}
	if !c.lastNotice.CompareAndSwap(last, now.UnixNano()) {
		return // another goroutine is sending this notice
	}
	n := c.unnoticed.Swap(0)
	if n == 0 {
		return
	}
	c.notices.Add(1)
	st := sinkStats("", c.q)
	// Stamped with the wall clock like every other record (the scaled
	// clock only rate-limits the notice): under a time scale it runs ahead.
	r := slog.NewRecord(time.Now(), slog.LevelWarn, "logship: VictoriaLogs queue full, dropping newest log records", 0)
	r.AddAttrs(
		Component("logship"),
		slog.Int64("dropped_since_last_notice", n),
		slog.Int64("dropped_total", st.DroppedTotal),
		slog.Int64("pending", st.Pending),
		slog.String("url", c.o.URL),
	)
	_ = c.o.Notices.Handle(context.Background(), r)
}

// run is the shipper goroutine: it owns every POST in async mode.
func (c *shipCore) run() {
	defer close(c.done)
	var body bytes.Buffer
	for {
		if !c.waitBatch() {
			return
		}
		if c.runCtx.Err() != nil {
			c.q.dropQueued(DropShutdown)
			return
		}
		batch := c.q.take(c.o.BatchRecords, c.o.BatchBytes)
		if batch == nil {
			continue
		}
		body.Reset()
		for _, l := range batch {
			body.Write(l)
		}
		c.send(batch, body.Bytes())
		if body.Cap() > 4*c.o.BatchBytes {
			body = bytes.Buffer{}
		}
	}
}

// waitBatch waits until a batch is due: full by count or bytes, FlushInterval
// after the first queued record, or at once while closing. It returns false
// when the goroutine should exit (closing with nothing left, or aborted).
func (c *shipCore) waitBatch() bool {
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		n, b := c.q.size()
		select {
		case <-c.closing:
			return n > 0 && c.runCtx.Err() == nil || c.dropIfAborted()
		default:
		}
		if n >= c.o.BatchRecords || b >= c.o.BatchBytes {
			return true
		}
		var timerC <-chan time.Time
		if n > 0 {
			if timer == nil {
				timer = c.o.Clock.NewTimer(c.o.FlushInterval)
			}
			timerC = timer.C()
		}
		select {
		case <-c.q.wake:
		case <-timerC:
			return true
		case <-c.closing:
		}
	}
}

// dropIfAborted drops what is queued if Close gave up; it always returns
// false, for waitBatch's "exit" answer.
func (c *shipCore) dropIfAborted() bool {
	if c.runCtx.Err() != nil {
		c.q.dropQueued(DropShutdown)
	}
	return false
}

// send POSTs one batch until it is delivered, refused for good, or Close
// gives up. It settles every record of the batch exactly once.
func (c *shipCore) send(batch [][]byte, body []byte) {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := c.post(body)
		c.recordLatency(time.Since(start))
		if err == nil {
			c.batches.Add(1)
			c.q.settle(len(batch), true, 0)
			return
		}
		c.failed.Add(1)
		var perm *permanentError
		switch {
		case c.runCtx.Err() != nil:
			c.q.settle(len(batch), false, DropShutdown)
			return
		case errors.As(err, &perm), c.o.MaxAttempts > 0 && attempt >= c.o.MaxAttempts:
			c.q.settle(len(batch), false, DropSinkError)
			c.unnoticed.Add(int64(len(batch)))
			return
		}
		if !c.backoff(attempt) {
			c.q.settle(len(batch), false, DropShutdown)
			return
		}
		c.retries.Add(1)
	}
}

// backoff waits before attempt+1; it returns false if Close gave up.
// While closing it still waits: hammering a dead sink does not help, and
// Close's deadline bounds the wait anyway.
func (c *shipCore) backoff(attempt int) bool {
	d := c.o.MinBackoff << min(attempt-1, 20)
	if d <= 0 || d > c.o.MaxBackoff {
		d = c.o.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1) // jitter: several servers must not retry in lockstep
	return clock.Sleep(c.runCtx, c.o.Clock, d) == nil
}

func (c *shipCore) recordLatency(d time.Duration) {
	c.latMu.Lock()
	_ = c.lat.RecordValue(int64(d)) // out of range only beyond 10 min: ignored
	c.latMu.Unlock()
}

// permanentError is a refusal that retrying cannot fix (4xx but 408/429).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// post sends one body with its own timeout, bounded also by runCtx.
func (c *shipCore) post(body []byte) error {
	ctx, cancel := context.WithTimeout(c.runCtx, c.o.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.insertURL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{fmt.Errorf("cannot build request to %s: %w", c.insertURL, err)}
	}
	// Not curl's form default: VictoriaLogs would answer 200 and store nothing.
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot POST %d bytes of logs to %s: %w", len(body), c.o.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("cannot POST logs to %s: status %s: %s", c.o.URL, resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &permanentError{err}
	}
	return err
}

// postSync is the deliberately blocking canary path: the network call
// happens on the logging goroutine, under a mutex.
func (c *shipCore) postSync(line []byte) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	start := time.Now()
	err := c.post(line)
	c.recordLatency(time.Since(start))
	c.q.countSync(err == nil)
	if err != nil {
		c.failed.Add(1)
		return err
	}
	c.batches.Add(1)
	return nil
}
