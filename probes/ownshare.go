package probes

import (
	"fmt"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// OwnShareDiagnosis diagnoses a call whose own share broke its budget from
// the evidence of its step. Waits on the provider's answers are left out
// (the own share has the upstream's time taken out), as are mutex-profile
// stacks (those are releasers, not waiters); the top remaining frame is
// named. For a wait on a sync.Mutex or RWMutex, the holder is named too:
// the stack that released a lock after the longest contention in the
// step's mutex profile — the goroutine that held what the call waited for.
func OwnShareDiagnosis(ev Evidence, opts DiagnoseOptions) *reports.Diagnosis {
	d := Diagnose(ev, opts)
	if d == nil {
		return nil
	}
	var top *reports.Culprit
	for i := range d.Frames {
		if f := &d.Frames[i]; f.Cause != CauseSlowUpstream && f.Source != "mutex" {
			top = f
			break
		}
	}
	if top == nil {
		return d
	}
	d.Cause, d.Culprit = top.Cause, top.Frame
	d.Summary = fmt.Sprintf("%s: the call's request path waited at %s (%s, %d goroutine(s), %s)",
		top.Cause, top.Frame, top.Source, top.Goroutines, msString(top.WaitMS))
	if !lockWait(top.Stack) {
		return d
	}
	if h, ok := holderOf(ev.Mutex, opts); ok {
		d.Cause, d.Holder = CauseLockHeld, &h
		d.Summary = fmt.Sprintf("%s: the call's request path waited at %s on a lock held by %s (released after %s of contention, mutex profile)",
			CauseLockHeld, top.Frame, h.Frame, msString(h.WaitMS))
	}
	return d
}

// lockWait reports whether a culprit's stack waits in a sync.Mutex or
// sync.RWMutex.
func lockWait(stack []string) bool {
	for _, f := range stack {
		if strings.HasPrefix(f, "sync.(*Mutex).") || strings.HasPrefix(f, "sync.(*RWMutex).") {
			return true
		}
	}
	return false
}

// holderOf is the releaser with the most contention in a mutex profile.
func holderOf(mutex []StackSample, opts DiagnoseOptions) (reports.Culprit, bool) {
	opts = opts.withDefaults()
	best := -1
	for i, s := range mutex {
		if s.Delay > 0 && (best < 0 || s.Delay > mutex[best].Delay) {
			best = i
		}
	}
	if best < 0 {
		return reports.Culprit{}, false
	}
	s := mutex[best]
	i := CulpritFrame(s.Stack, opts.ModulePrefix)
	if i < 0 {
		return reports.Culprit{}, false
	}
	return reports.Culprit{Frame: s.Stack[i].Short(), Cause: CauseLockHeld, Goroutines: 1,
		WaitMS: reports.Millis(s.Delay), Source: "mutex", Stack: formatStack(s.Stack, opts.StackDepth)}, true
}

func msString(v float64) string {
	return fmtMS(time.Duration(v * float64(time.Millisecond)))
}
