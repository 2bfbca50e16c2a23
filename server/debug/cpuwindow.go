package debug

import (
	"bytes"
	"net/http"
	"runtime/pprof"
	"time"
)

// MaxCPUWindow bounds a CPU profile window opened with POST
// /debug/cpuprofile?action=start: a client that never stops it does not
// leave the server profiling. A window past it is stopped and discarded.
const MaxCPUWindow = 10 * time.Minute

// cpuWindow is a CPU profile over a window the client opens and closes, so
// a profile can cover exactly one step of unknown length
// (/debug/pprof/profile takes whole seconds, decided in advance, and
// loses the profile if the client hangs up).
type cpuWindow struct {
	buf   *bytes.Buffer
	timer *time.Timer
}

// serveCPUProfile: POST ?action=start starts a window (409 when a CPU
// profile already runs, this one or /debug/pprof/profile's); POST
// ?action=stop ends it and answers the gzipped pprof profile (409 when no
// window is open).
func (l *Listener) serveCPUProfile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST ?action=start or ?action=stop", http.StatusMethodNotAllowed)
		return
	}
	switch action := r.URL.Query().Get("action"); action {
	case "start":
		if err := l.startCPUWindow(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
		}
	case "stop":
		p, ok := l.stopCPUWindow()
		if !ok {
			http.Error(w, "no CPU profile window is open", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(p)
	default:
		http.Error(w, "action must be start or stop, got "+action, http.StatusBadRequest)
	}
}

func (l *Listener) startCPUWindow() error {
	l.cpuMu.Lock()
	defer l.cpuMu.Unlock()
	if l.cpu != nil {
		return errCPUWindowOpen
	}
	buf := new(bytes.Buffer) // in memory: no I/O under cpuMu
	if err := pprof.StartCPUProfile(buf); err != nil {
		return err
	}
	win := &cpuWindow{buf: buf}
	win.timer = time.AfterFunc(MaxCPUWindow, func() { l.expireCPUWindow(win) })
	l.cpu = win
	return nil
}

// stopCPUWindow ends the open window and returns its profile.
func (l *Listener) stopCPUWindow() ([]byte, bool) {
	l.cpuMu.Lock()
	defer l.cpuMu.Unlock()
	win := l.cpu
	if win == nil {
		return nil, false
	}
	l.cpu = nil
	win.timer.Stop()
	pprof.StopCPUProfile() // flushes into win.buf
	return win.buf.Bytes(), true
}

// expireCPUWindow stops win if it is still the open window.
func (l *Listener) expireCPUWindow(win *cpuWindow) {
	l.cpuMu.Lock()
	defer l.cpuMu.Unlock()
	if l.cpu == win {
		l.cpu = nil
		pprof.StopCPUProfile()
		l.o.Logger.Warn("CPU profile window expired unread", "after", MaxCPUWindow)
	}
}
