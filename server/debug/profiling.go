package debug

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/trace"
	"strconv"

	"github.com/secondbrain-dev/secondbrain/server/debugapi"
)

// setProfiling sets the block profile rate and mutex profile fraction.
// A negative value leaves that setting alone. These are process-wide runtime
// settings: the listener only remembers that it changed them, so Stop can
// turn them off again.
func (l *Listener) setProfiling(block, mutex int) {
	l.profMu.Lock()
	defer l.profMu.Unlock()
	if block >= 0 {
		runtime.SetBlockProfileRate(block)
		l.blockRate = block
	}
	if mutex >= 0 {
		runtime.SetMutexProfileFraction(mutex)
	}
	l.profilingUsed = true
}

func (l *Listener) resetProfiling() {
	l.profMu.Lock()
	defer l.profMu.Unlock()
	if l.profilingUsed {
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
		l.blockRate, l.profilingUsed = 0, false
	}
}

// serveProfiling: /debug/profiling?block=RATE&mutex=FRACTION sets either or
// both (0 turns one off); with no parameters it reports the current state.
func (l *Listener) serveProfiling(w http.ResponseWriter, r *http.Request) {
	parse := func(name string) (int, bool) {
		s := r.URL.Query().Get(name)
		if s == "" {
			return -1, true
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("%s must be a non-negative integer, got %q", name, s), http.StatusBadRequest)
			return 0, false
		}
		return n, true
	}
	block, ok := parse("block")
	if !ok {
		return
	}
	mutex, ok := parse("mutex")
	if !ok {
		return
	}
	if block >= 0 || mutex >= 0 {
		l.setProfiling(block, mutex)
	}
	l.profMu.Lock()
	st := debugapi.Profiling{BlockProfileRate: l.blockRate, MutexProfileFraction: runtime.SetMutexProfileFraction(-1)}
	l.profMu.Unlock()
	l.frMu.Lock()
	st.FlightRecorder = l.fr != nil
	l.frMu.Unlock()
	writeJSON(w, st)
}

func (l *Listener) startFlightRecorder() error {
	l.frMu.Lock()
	defer l.frMu.Unlock()
	if l.fr != nil {
		return nil
	}
	fr := trace.NewFlightRecorder(l.o.FlightRecorderConfig)
	if err := fr.Start(); err != nil {
		return fmt.Errorf("cannot start the flight recorder: %w", err)
	}
	l.fr = fr
	return nil
}

func (l *Listener) stopFlightRecorder() {
	l.frMu.Lock()
	fr := l.fr
	l.fr = nil
	l.frMu.Unlock()
	if fr != nil {
		fr.Stop()
	}
}

// serveFlightRecorder: ?start=1 starts the recorder, ?stop=1 stops it, and
// a plain GET writes the current window (a runtime/trace file for
// `go tool trace`). One window is written at a time.
func (l *Listener) serveFlightRecorder(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("start") != "":
		if err := l.startFlightRecorder(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, map[string]bool{"flight_recorder": true})
		return
	case q.Get("stop") != "":
		l.stopFlightRecorder()
		writeJSON(w, map[string]bool{"flight_recorder": false})
		return
	}
	l.frMu.Lock()
	fr := l.fr
	l.frMu.Unlock()
	if fr == nil {
		http.Error(w, "flight recorder not running: GET /debug/flightrecorder?start=1 first", http.StatusConflict)
		return
	}
	if !l.frBusy.CompareAndSwap(false, true) {
		http.Error(w, "a flight recorder window is already being written", http.StatusTooManyRequests)
		return
	}
	defer l.frBusy.Store(false)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="flight.trace"`)
	if _, err := fr.WriteTo(w); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		// Headers are gone; the client sees a short file. Log and move on.
		l.o.Logger.Warn("cannot write flight recorder window", "err", err)
	}
}
