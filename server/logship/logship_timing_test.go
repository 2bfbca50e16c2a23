package logship

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// BenchmarkShipper_stalledSink: the log-storm scenario's cost per call with
// the sink stalled (every POST hangs until its timeout) and the queue full.
func BenchmarkShipper_stalledSink(b *testing.B) {
	sink := newFakeSink(b)
	stall := make(chan struct{})
	sink.set(0, 0, stall)
	o := fastOptions(sink.URL())
	o.MaxQueueRecords = 1024
	s, err := StartShipper(o)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(s).With(Component("vectorstore"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			log.Info("skipping duplicate file", "path", "src/x.go", "i", i)
			i++
		}
	})
	b.StopTimer()
	close(stall)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Close(ctx)
	st := s.Stats()
	b.ReportMetric(float64(st.DroppedTotal)/float64(st.Emitted), "dropped/op")
}

// BenchmarkStderr_unreadPipe: cost per call when the host stopped reading
// our stderr.
func BenchmarkStderr_unreadPipe(b *testing.B) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h := StartStderr(w, StderrOptions{})
	log := slog.New(h)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			log.Info("skipping duplicate file", "path", "src/x.go")
		}
	})
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = h.Close(ctx)
}
