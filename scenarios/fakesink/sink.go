package fakesink

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakehttp"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// DefaultMaxRecords is how many records a Sink keeps for [Sink.Records];
// counting goes on beyond it.
const DefaultMaxRecords = 1_000_000

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("5s"); a bare number is read as seconds.
type Duration = fakehttp.Duration

// Faults is the sink's fault model; the zero value is a healthy sink.
// Durations are scenario time on the sink's clock.
type Faults struct {
	// Delay holds every ingestion request this long before answering
	// (the log-storm scenario: "stalls 5 s per request").
	Delay Duration `json:"delay,omitempty"`
	// StallFor, when set, makes every ingestion request that arrives in
	// the next StallFor wait until that window has ended. Setting it again
	// starts a new window from now.
	StallFor Duration `json:"stall_for,omitempty"`
	// Hang holds every ingestion request until its client gives up or the
	// sink is closed; nothing is stored.
	Hang bool `json:"hang,omitempty"`
	// ErrorStatus (a 5xx) refuses ingestion requests; ErrorCount limits it
	// to that many requests (0 = every request while set).
	ErrorStatus int `json:"error_status,omitempty"`
	ErrorCount  int `json:"error_count,omitempty"`
	// StopFor closes the listener (connection refused) and reopens it on
	// the same address once StopFor has passed. Needs [Sink.Start].
	StopFor Duration `json:"stop_for,omitempty"`
}

// Validate reports settings the sink cannot honour.
func (f Faults) Validate() error {
	if f.Delay < 0 || f.StallFor < 0 || f.StopFor < 0 {
		return errors.New("durations must not be negative")
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		return fmt.Errorf("error_status %d is not a 5xx code", f.ErrorStatus)
	}
	if f.ErrorCount < 0 {
		return fmt.Errorf("error_count %d must not be negative", f.ErrorCount)
	}
	return nil
}

// Record is one stored log line.
type Record struct {
	Msg    string         `json:"_msg"`
	Time   string         `json:"_time"`
	Fields map[string]any `json:"fields"` // every field as sent
}

// Option configures a [Sink].
type Option func(*Sink)

// WithClock sets the clock faults are measured on. Default [clock.Real].
func WithClock(c clock.Clock) Option { return func(s *Sink) { s.clk = c } }

// WithFaults sets the initial faults; {"reset":true} returns to them.
func WithFaults(f Faults) Option { return func(s *Sink) { s.initial = f } }

// WithMaxRecords caps the records kept for [Sink.Records] (default
// [DefaultMaxRecords]); Count keeps counting past it.
func WithMaxRecords(n int) Option { return func(s *Sink) { s.maxRecords = n } }

var statKeys = []string{"requests", "records_received", "bytes", "rejected", "rejected_records",
	"invalid_lines", "abandoned", "hung", "stalled", "delayed", "bad_requests", "stops", "restarts"}

// Sink is the fake VictoriaLogs. It is an http.Handler and can also serve
// itself ([Sink.Start]). Safe for concurrent use; call [Sink.Close] when done.
type Sink struct {
	clk        clock.Clock
	initial    Faults
	maxRecords int

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // serve loop, restart timer; Add only under mu while not closed
	gate   fakehttp.Gate  // in-flight handlers
	closed atomic.Bool

	counters fakehttp.Counters

	mu         sync.Mutex // guards below; never held during I/O or waits
	faults     Faults
	stallUntil time.Time
	errorsLeft int
	records    []Record
	changed    chan struct{} // closed and replaced whenever records arrive
	addr       string        // address Start bound; Restart reuses it
	hs         *http.Server
	serveDone  chan struct{}
	stopping   bool // Stop is closing the listener: not yet refusing
	stopTimer  clock.Timer
}

// New returns a sink. Nothing runs until it serves or Start is called.
func New(opts ...Option) *Sink {
	s := &Sink{clk: clock.Real{}, maxRecords: DefaultMaxRecords}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.counters = fakehttp.NewCounters(statKeys...)
	s.changed = make(chan struct{})
	s.applyLocked(s.initial)
	return s
}

func (s *Sink) count(k string, n int64) { s.counters.Add(k, n) }

// applyLocked installs f; s.mu must be held (or s not yet shared).
func (s *Sink) applyLocked(f Faults) {
	s.faults = f
	s.errorsLeft = f.ErrorCount
	s.stallUntil = time.Time{}
	if f.StallFor > 0 {
		s.stallUntil = s.clk.Now().Add(f.StallFor.D())
	}
}

// SetFaults replaces the fault model. A StopFor in f stops the listener.
func (s *Sink) SetFaults(f Faults) {
	s.mu.Lock()
	s.applyLocked(f)
	s.mu.Unlock()
	if f.StopFor > 0 {
		s.stopFor(f.StopFor.D())
	}
}

// Faults returns the current fault model.
func (s *Sink) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Stats returns a snapshot of the counters plus records_kept and stopped (0/1).
func (s *Sink) Stats() map[string]int64 {
	out := s.counters.Snapshot(2)
	s.mu.Lock()
	out["records_kept"] = int64(len(s.records))
	out["stopped"] = 0
	if s.addr != "" && s.hs == nil && !s.stopping {
		out["stopped"] = 1
	}
	s.mu.Unlock()
	return out
}

// Count returns how many records were accepted (answered 200).
func (s *Sink) Count() int64 { return s.counters.Load("records_received") }

// Records returns a copy of the kept records in arrival order.
func (s *Sink) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// WaitForCount blocks until at least n records were accepted or ctx ends.
func (s *Sink) WaitForCount(ctx context.Context, n int64) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if s.Count() >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sink has %d of %d records: %w", s.Count(), n, ctx.Err())
		case <-ch:
		}
	}
}

// Start serves the sink on addr ("127.0.0.1:0" picks a port, which Restart
// then reuses). baseURL is "http://HOST:PORT"; ship to baseURL+"/insert/jsonline".
func (s *Sink) Start(addr string) (baseURL string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return "", errors.New("cannot start fakesink: sink is closed")
	}
	if s.hs != nil {
		return "", errors.New("cannot start fakesink: already serving on " + s.addr)
	}
	if err := s.listenLocked(addr); err != nil {
		return "", err
	}
	return "http://" + s.addr, nil
}

// listenLocked binds addr and starts the serve goroutine; s.mu held.
func (s *Sink) listenLocked(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	s.serveDone = done
	hs := s.hs
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		_ = hs.Serve(ln) // http.ErrServerClosed after Stop/Close
	}()
	return nil
}

// Stop closes the listener and every open connection, so clients get
// "connection refused" until [Sink.Restart]. Requests in flight fail.
func (s *Sink) Stop() error {
	s.mu.Lock()
	hs, done := s.hs, s.serveDone
	s.hs, s.serveDone = nil, nil
	s.stopping = hs != nil
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	s.count("stops", 1)
	_ = hs.Close()
	<-done
	s.mu.Lock()
	s.stopping = false
	s.mu.Unlock()
	return nil
}

// Restart listens again on the address of the last Start.
func (s *Sink) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return errors.New("cannot restart fakesink: sink is closed")
	}
	if s.addr == "" {
		return errors.New("cannot restart fakesink: it was never started")
	}
	if s.hs != nil {
		return nil
	}
	s.count("restarts", 1)
	return s.listenLocked(s.addr)
}

// stopFor stops now and restarts after d of scenario time (or never, if
// the sink is closed first).
func (s *Sink) stopFor(d time.Duration) {
	_ = s.Stop()
	t := s.clk.NewTimer(d)
	s.mu.Lock()
	if s.stopTimer != nil {
		s.stopTimer.Stop()
	}
	s.stopTimer = t
	s.mu.Unlock()
	if !s.spawn(func() {
		select {
		case <-t.C():
			_ = s.Restart() // an error means closed, or the port was taken: stays stopped
		case <-s.ctx.Done():
			t.Stop()
		}
	}) {
		t.Stop()
	}
}

// Close stops serving, releases every waiting request and waits for all
// goroutines of the sink.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed.Store(true)
	s.mu.Unlock()
	s.cancel()
	_ = s.Stop()
	s.wg.Wait()
	s.gate.CloseAndWait()
	return nil
}

// spawn runs fn on a goroutine Close waits for; false if already closed.
func (s *Sink) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// ServeHTTP serves ingestion, health and control routes.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.gate.Enter() {
		http.Error(w, "fakesink is closed", http.StatusServiceUnavailable)
		return
	}
	defer s.gate.Leave()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()

	switch r.URL.Path {
	case "/insert/jsonline":
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		s.ingest(ctx, w, r)
	case "/health":
		_, _ = io.WriteString(w, "OK")
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "vl_rows_ingested_total{type=\"jsonline\"} %d\nvl_http_requests_total{path=\"/insert/jsonline\"} %d\n",
			s.Count(), s.counters.Load("requests"))
	case "/internal/force_flush":
		w.WriteHeader(http.StatusOK)
	case "/_stats":
		writeJSON(w, http.StatusOK, s.Stats())
	case "/_fault":
		s.serveFault(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Sink) ingest(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	s.count("requests", 1)
	var body io.Reader = http.MaxBytesReader(w, r.Body, 256<<20)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			s.count("bad_requests", 1)
			http.Error(w, "cannot read gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	// Read the whole body first: it is what the client already sent, and
	// net/http only notices a client hanging up once the body hit EOF.
	data, err := io.ReadAll(body)
	if err != nil {
		s.count("bad_requests", 1)
		http.Error(w, "cannot read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.count("bytes", int64(len(data)))

	s.mu.Lock()
	f, stallUntil := s.faults, s.stallUntil
	refuse := false
	if f.ErrorStatus != 0 && (f.ErrorCount == 0 || s.errorsLeft > 0) {
		refuse = true
		if f.ErrorCount > 0 {
			s.errorsLeft--
		}
	}
	s.mu.Unlock()

	if f.Hang {
		s.count("hung", 1)
		<-ctx.Done()
		s.count("abandoned", 1)
		return
	}
	if wait := stallUntil.Sub(s.clk.Now()); wait > 0 {
		s.count("stalled", 1)
		if clock.Sleep(ctx, s.clk, wait) != nil {
			s.count("abandoned", 1)
			return
		}
	}
	if f.Delay > 0 {
		s.count("delayed", 1)
		if clock.Sleep(ctx, s.clk, f.Delay.D()) != nil {
			s.count("abandoned", 1)
			return
		}
	}
	if refuse {
		s.count("rejected", 1)
		s.count("rejected_records", int64(bytes.Count(data, []byte("\n"))+1))
		http.Error(w, "fakesink: injected error", f.ErrorStatus)
		return
	}
	recs, invalid := parseLines(data, fieldNames(r, "_msg_field", "VL-Msg-Field"), fieldNames(r, "_time_field", "VL-Time-Field"))
	s.count("invalid_lines", int64(invalid))
	s.mu.Lock()
	if room := s.maxRecords - len(s.records); room > 0 {
		s.records = append(s.records, recs[:min(room, len(recs))]...)
	}
	s.count("records_received", int64(len(recs)))
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// fieldNames reads a comma-separated field list from the query arg or header.
func fieldNames(r *http.Request, arg, header string) []string {
	v := r.URL.Query().Get(arg)
	if v == "" {
		v = r.Header.Get(header)
	}
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// parseLines decodes JSON lines; empty lines are ignored, others that are
// not JSON objects are counted as invalid.
func parseLines(data []byte, msgFields, timeFields []string) ([]Record, int) {
	var recs []Record
	invalid := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil || m == nil {
			invalid++
			continue
		}
		recs = append(recs, Record{Msg: pick(m, msgFields, "_msg"), Time: pick(m, timeFields, "_time"), Fields: m})
	}
	return recs, invalid
}

func pick(m map[string]any, names []string, def string) string {
	if len(names) == 0 {
		names = []string{def}
	}
	for _, n := range names {
		if v, ok := m[strings.TrimSpace(n)]; ok && v != nil {
			if s, ok := v.(string); ok {
				return s
			}
			b, _ := json.Marshal(v) // a decoded JSON value: cannot fail
			return string(b)
		}
	}
	return ""
}

type faultControl struct {
	Reset bool `json:"reset"`
}

func (s *Sink) serveFault(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
		return
	case http.MethodPost:
	default:
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var ctl faultControl
	if err := json.Unmarshal(body, &ctl); err != nil {
		http.Error(w, "cannot parse faults: "+err.Error(), http.StatusBadRequest)
		return
	}
	f := s.Faults()
	if ctl.Reset {
		f = s.initial
	}
	f.StopFor = 0 // a one-shot action, not a standing setting
	if err := fakehttp.Patch(body, &f, "reset"); err != nil {
		http.Error(w, "cannot parse faults: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := f.Validate(); err != nil {
		http.Error(w, "invalid faults: "+err.Error(), http.StatusBadRequest)
		return
	}
	stopFor := f.StopFor
	f.StopFor = 0
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, f)
	if stopFor > 0 {
		// Stop after answering: Stop waits for the serve loop, and this
		// handler runs on it; and Stop closes this connection, so the
		// answer (sized, not chunked) must be on the wire first.
		_ = http.NewResponseController(w).Flush()
		s.spawn(func() { s.stopFor(stopFor.D()) })
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
