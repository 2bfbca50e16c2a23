package logship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestParse(t *testing.T) {
	f := func(in string, want Mode, ok bool) {
		t.Helper()
		got, err := ParseMode(in)
		if (err == nil) != ok || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, ok=%v", in, got, err, want, ok)
		}
	}
	f("", ModeAsync, true)
	f("async", ModeAsync, true)
	f("sync", ModeSync, true)
	f("sync-log", ModeSyncLog, true)
	f("sync-stderr", ModeSyncStderr, true)
	f("blocking", "", false)

	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "info+2": slog.LevelInfo + 2} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) succeeded")
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}

func TestFanout_slogtest(t *testing.T) {
	var a, b *syncBuffer
	var ha, hb *Stderr
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		a, b = &syncBuffer{}, &syncBuffer{}
		ha = StartStderr(a, StderrOptions{Format: FormatJSON})
		hb = StartStderr(b, StderrOptions{Format: FormatJSON})
		t.Cleanup(func() { _ = ha.Close(context.Background()); _ = hb.Close(context.Background()) })
		return NewFanout(ha, hb)
	}, func(t *testing.T) map[string]any {
		for _, h := range []*Stderr{ha, hb} {
			if err := h.Close(closeCtx(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("children got different records:\n%s\n%s", a.Bytes(), b.Bytes())
		}
		recs := parseJSONLines(t, a.Bytes())
		if len(recs) != 1 {
			t.Fatalf("got %d records, want 1", len(recs))
		}
		return recs[0]
	})
}

func TestPipeline_levelsPerSink(t *testing.T) {
	sink := newFakeSink(t)
	stderr := &syncBuffer{}
	sl, vl := new(slog.LevelVar), new(slog.LevelVar)
	sl.Set(slog.LevelWarn)
	vl.Set(slog.LevelDebug)
	p, err := Start(Config{
		Stderr: stderr, StderrLevel: sl, VictoriaLevel: vl,
		VictoriaLogsURL: sink.URL(), ShipperOptions: fastOptions(sink.URL()),
	})
	if err != nil {
		t.Fatal(err)
	}
	log := p.Logger()
	log.Debug("debug only to victorialogs")
	log.Warn("warn to both")
	if log.Handler().Enabled(context.Background(), slog.LevelDebug-1) {
		t.Error("enabled below both levels")
	}
	if err := p.Close(closeCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	checkInvariant(t, "stderr", *st.Stderr)
	checkInvariant(t, "victorialogs", st.VictoriaLogs.SinkStats)
	if st.Stderr.Delivered != 1 || st.VictoriaLogs.Delivered != 2 || sink.received() != 2 {
		t.Errorf("stderr delivered %d (want 1), victorialogs %d (want 2), sink %d", st.Stderr.Delivered, st.VictoriaLogs.Delivered, sink.received())
	}
	if bytes.Contains(stderr.Bytes(), []byte("debug only")) {
		t.Errorf("stderr got the debug record: %s", stderr.Bytes())
	}
}

// A real-looking key configured, logged every way a careless caller might:
// it must appear in nothing printed or shipped.
func TestPipeline_secretsNeverReachAnySink(t *testing.T) {
	const (
		openaiKey = "sk-proj-Q3vXb8TzLw2Nk5Rr9YcHd1MpFs7GjAe4Ku6Wo0Bi"
		xaiKey    = "xai-H7dK2mPq9sVt4wXz1bNc6fRg3jLy8uEa5oTi0kWe"
		literal   = "hunter2-correct-horse-battery" // matches no pattern: only the configured list catches it
	)
	secrets := []string{openaiKey, xaiKey, literal}
	for _, format := range []Format{FormatText, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			sink := newFakeSink(t)
			stderr := &syncBuffer{}
			dl := new(slog.LevelVar)
			dl.Set(slog.LevelDebug)
			p, err := Start(Config{
				Stderr: stderr, Format: format, StderrLevel: dl, VictoriaLevel: dl,
				VictoriaLogsURL: sink.URL(), ShipperOptions: fastOptions(sink.URL()),
				Secrets: []string{openaiKey, xaiKey, literal},
			})
			if err != nil {
				t.Fatal(err)
			}
			log := p.Logger().With(Component("provider"), slog.String("api_key", openaiKey))
			hdr := http.Header{"Authorization": {"Bearer " + openaiKey}, "X-Api-Key": {xaiKey}}
			u, _ := url.Parse("https://api.x.ai/v1/chat?key=" + xaiKey)
			for _, s := range secrets {
				log.Info("calling provider with key "+s, "key", s)
				log.Debug("headers", "headers", hdr, "url", u, "authorization", "Bearer "+s)
				log.Error("request failed", "err", fmt.Errorf("401 for token %s: %w", s, errors.New("unauthorized")))
				log.WithGroup("req").Warn("retry", slog.Group("auth", "header", "Bearer "+s, "Token", s), "raw", []byte(s))
				log.Info("quoted", "v", `"`+s+`"`, "m", map[string]string{"k": s})
			}
			log.Info("keep ordinary words", "path", "disk-usage-report-2026.txt", "task", "task-runner-setup")
			if err := p.Close(closeCtx(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			printed, shipped := stderr.Bytes(), sink.allBodies()
			if len(printed) == 0 || len(shipped) == 0 {
				t.Fatalf("nothing printed (%d bytes) or shipped (%d bytes)", len(printed), len(shipped))
			}
			for _, s := range secrets {
				for _, part := range []string{s, s[len(s)-12:]} {
					if bytes.Contains(printed, []byte(part)) {
						t.Errorf("stderr contains %q:\n%s", part, printed)
					}
					if bytes.Contains(shipped, []byte(part)) {
						t.Errorf("VictoriaLogs got %q:\n%s", part, shipped)
					}
				}
			}
			for _, out := range [][]byte{printed, shipped} {
				if !bytes.Contains(out, []byte(Redacted)) || !bytes.Contains(out, []byte("disk-usage-report-2026.txt")) ||
					!bytes.Contains(out, []byte("task-runner-setup")) {
					t.Errorf("redaction marker missing or ordinary words mangled:\n%s", out)
				}
			}
		})
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := startShipper(t, fastOptions("http://"+deadAddr(t)))
	st := StartStderr(&syncBuffer{}, StderrOptions{})
	defer st.Close(context.Background())
	tests := []struct {
		name string
		h    slog.Handler
		max  float64
	}{
		// Measured: one allocation is the line copy the queue keeps; the
		// rest are the queue slice's amortised growth and slog's own level
		// text (TextHandler). Nothing per call scales with load.
		{"shipper", s, 2},
		{"stderr", st, 2},
		{"fanout", NewFanout(st, s), 4},
	}
	for _, tt := range tests {
		log := slog.New(tt.h).With(Component("bench"))
		got := testing.AllocsPerRun(5000, func() {
			log.Info("skipping duplicate file", "path", "src/x.go", "n", 42)
		})
		t.Logf("%s: %.2f allocs per log call", tt.name, got)
		if got > tt.max {
			t.Errorf("%s: %.2f allocs per log call, want ≤ %.0f", tt.name, got, tt.max)
		}
	}
}

func TestPipeline_syncModesAndCancelledContext(t *testing.T) {
	sink := newFakeSink(t)
	stderr := &syncBuffer{}
	p, err := Start(Config{Stderr: stderr, VictoriaLogsURL: sink.URL(), Mode: ModeSync, ShipperOptions: fastOptions(sink.URL())})
	if err != nil {
		t.Fatal(err)
	}
	// A cancelled request context must not drop its records (slog's contract).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Logger().InfoContext(ctx, "logged from a cancelled call")
	if err := p.Close(closeCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Mode != string(ModeSync) || st.Stderr.Mode != "sync-stderr" || st.VictoriaLogs.Mode != "sync-log" {
		t.Errorf("modes = %s / %s / %s", st.Mode, st.Stderr.Mode, st.VictoriaLogs.Mode)
	}
	// 2 each: the DELIBERATELY BLOCKING banner, then the record.
	if st.Stderr.Delivered != 2 || st.VictoriaLogs.Delivered != 2 || sink.received() != 2 {
		t.Errorf("cancelled-context record: stderr %d, victorialogs %d, sink %d; want 2 each",
			st.Stderr.Delivered, st.VictoriaLogs.Delivered, sink.received())
	}
	for _, out := range [][]byte{stderr.Bytes(), sink.allBodies()} {
		if !bytes.Contains(out, []byte("DELIBERATELY BLOCKING")) || !bytes.Contains(out, []byte("logged from a cancelled call")) {
			t.Errorf("banner or record missing:\n%s", out)
		}
	}
}

func TestPipeline_collector(t *testing.T) {
	sink := newFakeSink(t)
	p, err := Start(Config{Stderr: &syncBuffer{}, VictoriaLogsURL: sink.URL(), ShipperOptions: fastOptions(sink.URL())})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p.Logger().Info("counted")
	}
	if err := p.Close(closeCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetSummary() != nil:
				got[key] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	for key, want := range map[string]float64{
		"secondbrain_log_records_emitted_total,sink=stderr":                       3,
		"secondbrain_log_records_delivered_total,sink=victorialogs":               3,
		"secondbrain_log_records_dropped_total,reason=queue_full,sink=stderr":     0,
		"secondbrain_log_records_pending,sink=victorialogs":                       0,
		"secondbrain_log_ship_batch_seconds":                                      float64(p.Stats().VictoriaLogs.BatchLatency.Count),
		"secondbrain_log_records_dropped_total,reason=shutdown,sink=victorialogs": 0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
}
