package logship

import "github.com/secondbrain-dev/secondbrain/server/debugapi"

// SinkStats is one sink's accounting in /debug/vars (the contract's
// document, debugapi.SinkStats).
type SinkStats = debugapi.SinkStats

func sinkStats(mode string, q *lineQueue) SinkStats {
	c := q.counts()
	return SinkStats{
		Mode:             mode,
		Emitted:          c.emitted,
		Queued:           c.queued,
		Delivered:        c.delivered,
		Dropped:          c.droppedMap(),
		DroppedTotal:     c.droppedTotal,
		Pending:          c.pending,
		QueueRecords:     c.records,
		QueueBytes:       c.bytes,
		QueueHighRecords: c.highRecords,
		QueueHighBytes:   c.highBytes,
		MaxQueueRecords:  int64(q.maxRecords),
		MaxQueueBytes:    int64(q.maxBytes),
	}
}

// ShipperStats and LatencyStats are the contract's documents
// (debugapi): the shipper's part of /debug/vars.
type (
	ShipperStats = debugapi.ShipperStats
	LatencyStats = debugapi.LatencyStats
)
