package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes"
	"github.com/secondbrain-dev/secondbrain/reports"
)

// CallObserver is an [Observer] told of every tool call the scenario
// makes, as it is sent; the function it returns is called once the call
// has returned, from the calling goroutine.
type CallObserver interface {
	Observer
	CallStarted(ctx context.Context, step int, traceID string) (returned func())
}

// callStall is a call that made no progress for longer than CallStallMax.
type callStall struct {
	step  int
	quiet time.Duration      // how long it had made no progress when looked at
	diag  *reports.Diagnosis // nil when the dump did not show the call waiting
	err   error              // the dump could not be read
}

// stallPoll is how often an in-flight call's progress is looked at, as a
// fraction of CallStallMax.
const stallPoll = 8

// CallStarted watches the call for a stall until it returns: while
// neither an answer nor a request at the provider has come for
// CallStallMax, the server's goroutines are dumped once and the call's own
// (by its trace label) say where it waits and what holds it.
func (w *watch) CallStarted(ctx context.Context, step int, traceID string) func() {
	if !w.judge || w.dc == nil || w.th.CallStallMax <= 0 || w.tgt == nil || w.tgt.Fakes == nil || traceID == "" {
		return func() {}
	}
	began := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.watchStall(ctx, step, traceID, began)
	}()
	return func() {
		cancel()
		<-done
		w.mu.Lock()
		w.ended[traceID] = true
		w.mu.Unlock()
	}
}

func (w *watch) watchStall(ctx context.Context, step int, traceID string, began time.Time) {
	limit := w.th.CallStallMax
	t := time.NewTicker(max(limit/stallPoll, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		busy, until := w.tgt.Fakes.UpstreamActivity(traceID)
		if busy {
			continue
		}
		quiet := time.Since(began)
		if until.After(began) {
			quiet = time.Since(until)
		}
		if quiet < limit {
			continue
		}
		st := callStall{step: step, quiet: quiet}
		dctx, cancel := w.dctx(ctx)
		d, err := w.dc.Goroutines(dctx)
		cancel()
		w.fetched(err)
		if err != nil {
			st.err = err
		} else {
			st.diag = probes.StallDiagnosis(d.Goroutines, w.baseG, traceID, quiet, w.callEnded, probes.DiagnoseOptions{Sources: w.src})
		}
		w.mu.Lock()
		w.stalls = append(w.stalls, st)
		w.mu.Unlock()
		return
	}
}

// callEnded reports whether the call of a trace id has returned.
func (w *watch) callEnded(traceID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended[traceID]
}

// stallChecks are the failed call.stall checks, one per stalled call.
func (w *watch) stallChecks() []reports.Check {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []reports.Check
	for _, st := range w.stalls {
		detail := "the server's goroutines could not be read: " + fmt.Sprint(st.err)
		switch {
		case st.diag != nil:
			detail = st.diag.Summary
		case st.err == nil:
			detail = "no goroutine of the call waits in the server (not dispatched, or its answer is on its way out)"
		}
		out = append(out, reports.Check{Name: fmt.Sprintf("call.stall[step %d]", st.step), Unit: "ms", Op: "<=",
			Value: reports.Millis(st.quiet), Threshold: reports.Millis(w.th.CallStallMax), Detail: detail})
	}
	return out
}

// explainStall makes a stalled call's diagnosis the scenario's when it
// names a holder (the dump was taken while the call was stuck behind it),
// or when nothing better was found.
func (w *watch) explainStall(res *reports.Scenario) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.stalls {
		d := st.diag
		if d == nil {
			continue
		}
		if res.Diagnosis != nil && res.Diagnosis.Cause != probes.CauseUnknown && d.Holder == nil {
			continue
		}
		if res.Diagnosis != nil {
			d.Profiles = res.Diagnosis.Profiles
		}
		res.Diagnosis = d
		return
	}
}
