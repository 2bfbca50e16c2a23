package logship_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/logship"
)

// How `serve` wires logging: stderr always, VictoriaLogs when a URL is set,
// one LevelVar per sink, and Close with a deadline at shutdown.
func ExampleStart() {
	level := new(slog.LevelVar) // from --log-level / LOG_LEVEL
	p, err := logship.Start(logship.Config{
		Stderr:      io.Discard, // os.Stderr in production
		Format:      logship.FormatJSON,
		StderrLevel: level,
		// VictoriaLogsURL: "http://127.0.0.1:9428", // --victorialogs-url / VICTORIA_LOGS_URL
		Mode:    logship.ModeAsync,                  // --log-shipping
		Secrets: []string{"sk-proj-configured-key"}, // the API keys the server holds
	})
	if err != nil {
		panic(err)
	}
	log := p.Logger().With(logship.Component("vectorstore"))
	log.Info("skipping duplicate file", logship.Tool("ask"), logship.Session("s1"))
	log.Debug("below the level: not emitted")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		fmt.Println("lost:", err)
	}
	st := p.Stats().Stderr
	fmt.Printf("emitted=%d delivered=%d dropped=%d pending=%d\n", st.Emitted, st.Delivered, st.DroppedTotal, st.Pending)
	// Output: emitted=1 delivered=1 dropped=0 pending=0
}
