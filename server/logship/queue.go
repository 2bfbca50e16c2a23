package logship

import (
	"sync"
)

// DropReason says why a record never reached its sink. The values are the
// keys of [ShipperStats.Dropped] and [StderrStats.Dropped].
type DropReason int

const (
	// DropQueueFull: the queue held its maximum number of records.
	DropQueueFull DropReason = iota
	// DropBytesFull: the queue held its maximum number of bytes, or the
	// record alone was larger than that.
	DropBytesFull
	// DropShutdown: the record was still queued (or in flight) when Close's
	// deadline passed, or it was logged after Close.
	DropShutdown
	// DropSinkError: the sink refused the batch for good (a 4xx other than
	// 408/429, or MaxAttempts exhausted), or the write to stderr failed.
	DropSinkError
	// DropEncodeError: the record could not be encoded.
	DropEncodeError
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	DropQueueFull:   "queue_full",
	DropBytesFull:   "bytes_full",
	DropShutdown:    "shutdown",
	DropSinkError:   "sink_error",
	DropEncodeError: "encode_error",
}

// String returns the reason's snake_case name, as used in Stats and metrics.
func (r DropReason) String() string {
	if r < 0 || r >= numDropReasons {
		return "unknown"
	}
	return dropReasonNames[r]
}

// lineQueue is a bounded FIFO of encoded records (one line each) shared by
// the stderr writer and the VictoriaLogs shipper.
//
// A full queue rejects the *newest* record (see doc.go, "Drop policy").
// The counters are plain integers guarded by mu rather than atomics: push
// already holds mu, so this costs nothing, keeps the critical section (the
// only shared lock a log call takes) as short as possible, and lets
// [lineQueue.counts] see emitted = delivered + dropped + pending exactly.
// mu is never held across I/O: the consumer takes lines out, unlocks, writes,
// then settles.
type lineQueue struct {
	maxRecords int
	maxBytes   int

	mu       sync.Mutex
	lines    [][]byte
	bytes    int
	inflight int  // records taken by the consumer and not yet settled
	closed   bool // Close was called: new records are dropped (shutdown)

	wake chan struct{} // cap 1: "there is something to do"

	emitted, queued, delivered int64
	dropped                    [numDropReasons]int64
	highRecords, highBytes     int64
}

func newLineQueue(maxRecords, maxBytes int) *lineQueue {
	return &lineQueue{maxRecords: maxRecords, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// push appends line unless the queue is full or closed. It never waits for
// anything but mu, which is only ever held for a few slice operations.
func (q *lineQueue) push(line []byte) (DropReason, bool) {
	q.mu.Lock()
	q.emitted += 1
	var reason DropReason
	switch {
	case q.closed:
		reason = DropShutdown
	case len(q.lines) >= q.maxRecords:
		reason = DropQueueFull
	case q.bytes+len(line) > q.maxBytes:
		reason = DropBytesFull
	default:
		q.lines = append(q.lines, line)
		q.bytes += len(line)
		q.queued += 1
		q.highRecords = max(q.highRecords, int64(len(q.lines)))
		q.highBytes = max(q.highBytes, int64(q.bytes))
		q.mu.Unlock()
		q.signal()
		return 0, true
	}
	q.dropped[reason] += 1
	q.mu.Unlock()
	return reason, false
}

// dropUnqueued counts a record that was emitted but never reached push
// (for example because it could not be encoded).
func (q *lineQueue) dropUnqueued(reason DropReason) {
	q.mu.Lock()
	q.emitted += 1
	q.dropped[reason] += 1
	q.mu.Unlock()
}

func (q *lineQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// size reports the queued records and bytes (not counting in-flight ones).
func (q *lineQueue) size() (records, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines), q.bytes
}

// take moves up to maxRecords records / maxBytes bytes (at least one record
// if any is queued) from the queue into flight and returns them.
func (q *lineQueue) take(maxRecords, maxBytes int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, b := 0, 0
	for n < len(q.lines) && n < maxRecords {
		l := len(q.lines[n])
		if n > 0 && b+l > maxBytes {
			break
		}
		b += l
		n++
	}
	if n == 0 {
		return nil
	}
	batch := make([][]byte, n)
	copy(batch, q.lines[:n])
	clear(q.lines[:n]) // let the GC have the lines once the batch is gone
	q.lines = q.lines[n:]
	if len(q.lines) == 0 {
		q.lines = nil // drop the backing array: memory goes back to idle
	}
	q.bytes -= b
	q.inflight += n
	return batch
}

// settle reports the fate of n in-flight records: delivered, or dropped
// for reason.
func (q *lineQueue) settle(n int, delivered bool, reason DropReason) {
	q.mu.Lock()
	q.inflight -= n
	if delivered {
		q.delivered += int64(n)
	} else {
		q.dropped[reason] += int64(n)
	}
	q.mu.Unlock()
}

// close makes every later push drop with DropShutdown.
func (q *lineQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// dropQueued drops everything still queued (not in flight) for reason and
// returns how many records that was.
func (q *lineQueue) dropQueued(reason DropReason) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.lines)
	q.dropped[reason] += int64(n)
	q.lines, q.bytes = nil, 0
	return n
}

// queueCounts is one consistent snapshot of a queue's accounting.
type queueCounts struct {
	emitted, queued, delivered, pending int64
	dropped                             [numDropReasons]int64
	droppedTotal                        int64
	records, bytes                      int64
	highRecords, highBytes              int64
}

func (q *lineQueue) counts() queueCounts {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := queueCounts{
		emitted:     q.emitted,
		queued:      q.queued,
		delivered:   q.delivered,
		pending:     int64(len(q.lines) + q.inflight),
		records:     int64(len(q.lines)),
		bytes:       int64(q.bytes),
		highRecords: q.highRecords,
		highBytes:   q.highBytes,
	}
	for i := range c.dropped {
		c.dropped[i] = q.dropped[i]
		c.droppedTotal += c.dropped[i]
	}
	return c
}

// droppedMap renders the per-reason drops with every reason present, so
// that dashboards and JSON consumers see zeros rather than missing keys.
func (c queueCounts) droppedMap() map[string]int64 {
	m := make(map[string]int64, numDropReasons)
	for i, n := range c.dropped {
		m[DropReason(i).String()] = n
	}
	return m
}

// countSync accounts for one record handled inline by a sync-mode sink.
func (q *lineQueue) countSync(delivered bool) {
	q.mu.Lock()
	q.emitted += 1
	if delivered {
		q.delivered += 1
	} else {
		q.dropped[DropSinkError] += 1
	}
	q.mu.Unlock()
}
