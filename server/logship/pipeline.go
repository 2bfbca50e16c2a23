package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

// Mode selects how records reach their sinks.
type Mode string

const (
	// ModeAsync is the default and the only production mode: nothing a sink
	// does can make a log call wait.
	ModeAsync Mode = "async"
	// ModeSync is DELIBERATELY BLOCKING (canaries only): both sync-stderr
	// and sync-log.
	ModeSync Mode = "sync"
	// ModeSyncLog is DELIBERATELY BLOCKING (canaries only): each record is
	// POSTed to VictoriaLogs inline, under a mutex. Stderr stays async.
	ModeSyncLog Mode = "sync-log"
	// ModeSyncStderr is DELIBERATELY BLOCKING (canaries only): each record
	// is written to stderr inline, under a mutex. VictoriaLogs stays async.
	ModeSyncStderr Mode = "sync-stderr"
)

// ParseMode accepts async, sync, sync-log and sync-stderr ("" means async).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeAsync, nil
	case ModeAsync, ModeSync, ModeSyncLog, ModeSyncStderr:
		return m, nil
	}
	return "", fmt.Errorf("cannot parse log shipping mode %q: want async, sync, sync-log or sync-stderr", s)
}

func (m Mode) syncStderr() bool { return m == ModeSync || m == ModeSyncStderr }
func (m Mode) syncLog() bool    { return m == ModeSync || m == ModeSyncLog }

// ParseLevel accepts debug, info, warn, error (any case), optionally with an
// offset such as "info+2", as [slog.Level.UnmarshalText] does.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("cannot parse log level %q: %w", s, err)
	}
	return l, nil
}

// Config describes the server's whole logging pipeline. The zero value
// (plus a Stderr writer) is an async text logger at Info with no shipping.
type Config struct {
	// Stderr is where the stderr sink writes (os.Stderr in production);
	// nil means no stderr sink.
	Stderr io.Writer
	// Format is the stderr encoding.
	Format Format
	// StderrLevel and VictoriaLevel are the sinks' levels; share them to
	// change levels at run time. nil means a fresh LevelVar at Info;
	// VictoriaLevel nil means a fresh one at StderrLevel's current level.
	StderrLevel   *slog.LevelVar
	VictoriaLevel *slog.LevelVar
	// VictoriaLogsURL is the VictoriaLogs base URL; "" means no shipping.
	VictoriaLogsURL string
	// Mode is async unless a canary asks for a sync mode.
	Mode Mode
	// Secrets are literal strings (API keys, …) that must never be logged,
	// on top of the built-in patterns.
	Secrets []string
	// StderrOptions and ShipperOptions tune the sinks (queue bounds,
	// timeouts, clock). Their Format, Level, URL, Redactor, Sync and Notices
	// fields are set from the fields above and ignored here.
	StderrOptions  StderrOptions
	ShipperOptions ShipperOptions
}

// Pipeline is the server's logging: an async stderr handler and an async
// VictoriaLogs shipper behind one [Fanout]. Either may be nil (not
// configured). Build it with [Start]; stop it with [Pipeline.Close].
type Pipeline struct {
	Stderr  *Stderr
	Shipper *Shipper
	mode    Mode
	handler slog.Handler
}

// Start builds the pipeline and starts its goroutines.
func Start(cfg Config) (*Pipeline, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeAsync
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.StderrLevel == nil {
		cfg.StderrLevel = new(slog.LevelVar)
	}
	if cfg.VictoriaLevel == nil {
		cfg.VictoriaLevel = new(slog.LevelVar)
		cfg.VictoriaLevel.Set(cfg.StderrLevel.Level())
	}
	red := NewRedactor(cfg.Secrets...)
	p := &Pipeline{mode: cfg.Mode}
	if cfg.Stderr != nil {
		o := cfg.StderrOptions
		o.Format, o.Level, o.Redactor, o.Sync = cfg.Format, cfg.StderrLevel, red, cfg.Mode.syncStderr()
		p.Stderr = StartStderr(cfg.Stderr, o)
	}
	if cfg.VictoriaLogsURL != "" {
		o := cfg.ShipperOptions
		o.URL, o.Level, o.Redactor, o.Sync = cfg.VictoriaLogsURL, cfg.VictoriaLevel, red, cfg.Mode.syncLog()
		o.Notices = nil
		if p.Stderr != nil {
			o.Notices = p.Stderr
		}
		s, err := StartShipper(o)
		if err != nil {
			if p.Stderr != nil {
				_ = p.Stderr.Close(context.Background()) // nothing logged yet: returns at once
			}
			return nil, err
		}
		p.Shipper = s
	}
	var hs []slog.Handler
	if p.Stderr != nil {
		hs = append(hs, p.Stderr)
	}
	if p.Shipper != nil {
		hs = append(hs, p.Shipper)
	}
	p.handler = NewFanout(hs...)
	if cfg.Mode != ModeAsync {
		// Loud on purpose: a sync mode left on in production is the incident.
		p.Logger().Warn("logship: DELIBERATELY BLOCKING log shipping mode (harness canaries only): log calls wait for their sinks",
			Component("logship"), slog.String("mode", string(cfg.Mode)))
	}
	return p, nil
}

// Handler returns the fan-out handler over the configured sinks.
func (p *Pipeline) Handler() slog.Handler { return p.handler }

// Logger returns a logger on [Pipeline.Handler].
func (p *Pipeline) Logger() *slog.Logger { return slog.New(p.handler) }

// Mode returns the shipping mode.
func (p *Pipeline) Mode() Mode { return p.mode }

// Stats is the pipeline's part of /debug/vars (the contract's document,
// debugapi.Logship): both sinks' counters.
type Stats = debugapi.Logship

// Stats returns both sinks' counters; serve it as /debug/vars.
func (p *Pipeline) Stats() Stats {
	st := Stats{Mode: string(p.mode)}
	if p.Stderr != nil {
		s := p.Stderr.Stats()
		st.Stderr = &s
	}
	if p.Shipper != nil {
		s := p.Shipper.Stats()
		st.VictoriaLogs = &s
	}
	return st
}

// Close flushes and stops the shipper, then stderr (which carries the
// shipper's last notices), both within ctx. It returns the sinks' errors
// joined; each wraps [ErrUndelivered] with the number of records lost.
func (p *Pipeline) Close(ctx context.Context) error {
	var errs []error
	if p.Shipper != nil {
		errs = append(errs, p.Shipper.Close(ctx))
	}
	if p.Stderr != nil {
		errs = append(errs, p.Stderr.Close(ctx))
	}
	return errors.Join(errs...)
}
