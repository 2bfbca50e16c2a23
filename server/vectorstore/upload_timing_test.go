package vectorstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// BenchmarkAttach90 uploads 90 files against the fake with per-upload
// latency L and batch processing time P, and reports the elapsed scenario
// time against the ideal ceil(batches/C) × (L + P): a batch's files upload
// in parallel (L), then the batch indexes (P). The goal is a ratio ≤ 1.25.
// The clock runs 20× so a run takes about a second; a faster clock would
// magnify the fixed real-time costs (hashing, SQLite commits) into scenario time.
func BenchmarkAttach90(b *testing.B) {
	const (
		files = 90
		L     = 2 * time.Second
		P     = 3 * time.Second
	)
	for _, tc := range []struct {
		name       string
		conc, size int
	}{
		{"C=10,default-split", 10, 0}, // 10 batches of 9: one round
		{"C=4,batch=5", 4, 5},         // 18 batches: 5 rounds
		{"C=2,batch=10", 2, 10},       // 9 batches: 5 rounds
	} {
		b.Run(tc.name, func(b *testing.B) {
			clk := clock.NewScaled(20)
			e := newEnv(b, clk, fakeai.Faults{UploadLatency: fakeai.Duration(L), BatchDuration: fakeai.Duration(P)})
			m := e.manager(b, Options{Concurrency: tc.conc, BatchSize: tc.size})
			dir, fs := project(b, files)
			batches := len(m.splitBatches(make([]*entry, files)))
			rounds := (batches + tc.conc - 1) / tc.conc
			ideal := time.Duration(rounds) * (L + P)
			var worst float64
			b.ResetTimer()
			for i := range b.N {
				start := clk.Now()
				att, err := m.Attach(testCtx(b), AttachRequest{Project: fmt.Sprintf("%s#%d", dir, i), Tool: "t", SessionID: "s", Files: fs})
				took := clk.Now().Sub(start)
				if err != nil || att.Uploaded != files {
					b.Fatalf("attach = %+v, %v", att, err)
				}
				worst = max(worst, float64(took)/float64(ideal))
			}
			b.ReportMetric(worst, "ratio")
			b.ReportMetric(float64(batches), "batches")
			b.Logf("%s: %d batches, C=%d, ideal %v scenario, worst ratio %.3f", tc.name, batches, tc.conc, ideal, worst)
		})
	}
}
