package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// steps runs steps in order. A step whose expectation fails is recorded and
// the scenario goes on (the next call after a failure is itself evidence);
// only a broken harness or a cancelled run stops it.
func (ru *run) steps(ctx context.Context, steps []Step, suffix string) error {
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		watched := ru.beginWatch(ctx, st)
		switch {
		case st.Call != nil:
			if st.Call.Background {
				ru.startBackground(ctx, st.Call, suffix)
			} else {
				ru.record(ru.call(ctx, st.Call, suffix, ""))
			}
		case st.Gap != nil:
			rs := ru.begin(KindGap, "gap "+st.Gap.String())
			err = clock.Sleep(ctx, ru.clk, st.Gap.D())
			ru.finish(rs, OutcomeOK, "", err == nil)
		case st.Fault != nil:
			err = ru.fault(ctx, st.Fault)
		case st.Cancel != nil:
			err = ru.cancelStep(ctx, st.Cancel)
		case st.Wait != nil:
			d := st.Wait.Timeout.D()
			if d <= 0 {
				d = DefaultCallTimeout
			}
			rs := ru.begin(KindWait, "wait")
			ok := ru.joinBackground(ctx, ru.r.scaled(d))
			ru.finish(rs, OutcomeOK, "", ok)
		case st.Concurrent != nil:
			ru.concurrent(ctx, st.Concurrent, suffix)
		case st.Repeat != nil:
			for i := range st.Repeat.Times {
				if err = ru.steps(ctx, st.Repeat.Steps, fmt.Sprintf("%s-r%d", suffix, i+1)); err != nil {
					break
				}
			}
		case st.Load != nil:
			err = ru.loadStep(ctx, st.Load)
		case st.Phase != nil:
			rs := ru.begin(KindPhase, *st.Phase)
			ru.setPhase(*st.Phase)
			rs.Phase = *st.Phase
			ru.finish(rs, OutcomeOK, "", true)
		}
		if watched {
			ru.endWatch(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// beginWatch tells the step observers a step that does work begins, and
// reports whether it did: calls (not the start of a background one),
// concurrent calls, cancels, waits, and gaps while calls are in flight.
func (ru *run) beginWatch(ctx context.Context, st Step) bool {
	ru.bgMu.Lock()
	inFlight := len(ru.bg) > 0
	next := ru.nextStep
	ru.bgMu.Unlock()
	work := (st.Call != nil && !st.Call.Background) || st.Concurrent != nil || st.Cancel != nil ||
		st.Wait != nil || st.Load != nil || (st.Gap != nil && inFlight)
	if !work {
		return false
	}
	name := fmt.Sprintf("s%02d-%s", next, st.Kind())
	if st.Call != nil && st.Call.Name != "" {
		name += "-" + st.Call.Name
	}
	watched := false
	for _, o := range ru.obs {
		if so, ok := o.(StepObserver); ok {
			so.BeginStep(ctx, name)
			watched = true
		}
	}
	return watched
}

func (ru *run) endWatch(ctx context.Context) {
	for _, o := range ru.obs {
		if so, ok := o.(StepObserver); ok {
			so.EndStep(ctx)
		}
	}
}

// begin starts recording a step and announces it.
func (ru *run) begin(kind, name string) *reports.Step {
	rs := &reports.Step{Index: ru.stepIndex(), Kind: kind, Name: name, Phase: ru.phase,
		StartMS: reports.Millis(time.Since(ru.start))}
	ru.events <- Event{Kind: StepStarted, Scenario: ru.sc, Index: ru.idx, Total: ru.total, Step: rs,
		Elapsed: time.Since(ru.start), Expected: ru.r.scaled(ru.sc.RealLength())}
	return rs
}

func (ru *run) stepIndex() int {
	ru.bgMu.Lock()
	defer ru.bgMu.Unlock()
	i := ru.nextStep
	ru.nextStep++
	return i
}

// finish completes rs with latency, outcome and pass, and records it.
func (ru *run) finish(rs *reports.Step, outcome, errText string, pass bool) {
	rs.LatencyMS = reports.Millis(time.Since(ru.start)) - rs.StartMS
	rs.Outcome, rs.Error, rs.Pass = outcome, errText, pass
	ru.record(rs)
}

func (ru *run) record(rs *reports.Step) {
	ru.bgMu.Lock()
	ru.res.Steps = append(ru.res.Steps, *rs)
	ru.bgMu.Unlock()
	ru.events <- Event{Kind: StepFinished, Scenario: ru.sc, Index: ru.idx, Total: ru.total, Step: rs,
		Elapsed: time.Since(ru.start), Expected: ru.r.scaled(ru.sc.RealLength())}
}

// call makes one tool call and returns its record (not yet recorded).
// cancelCtx, when non-nil, is cancelled by a cancel step.
func (ru *run) call(ctx context.Context, c *Call, suffix, sessionOverride string) *reports.Step {
	name := c.Name
	if name == "" {
		name = c.Tool
	}
	session := c.Session
	if session != "" {
		session += suffix
	}
	if sessionOverride != "" {
		session = sessionOverride
	}
	expect := c.Expect
	if expect == "" {
		expect = OutcomeOK
	}
	rs := ru.begin(KindCall, name)
	rs.Tool, rs.Session, rs.Expected = c.Tool, session, expect
	timeout := c.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, ru.r.scaled(timeout))
	defer cancel()
	token := ""
	if c.Progress {
		token = fmt.Sprintf("%s-%d", ru.sc.Name, rs.Index)
	}
	traceID, traceParent := newTraceParent()
	returned := ru.callStarted(cctx, rs.Index, traceID)
	began := time.Now()
	res, err := ru.sess.CallTool(cctx, c.Tool, ru.args(c, session), token, traceParent)
	rs.LatencyMS = reports.Millis(time.Since(began))
	returned()
	ru.shares(rs, c, traceID)
	switch {
	case err == nil && !res.IsError:
		rs.Outcome = OutcomeOK
		rs.Detail = truncate(resultText(res), 300)
	case err == nil:
		rs.Outcome = OutcomeError
		rs.Error = truncate(resultText(res), 500)
	case errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		rs.Outcome = OutcomeTimeout
		rs.Error = err.Error()
	case cctx.Err() != nil:
		rs.Outcome = OutcomeCancelled
		rs.Error = err.Error()
	default:
		rs.Outcome = OutcomeError
		rs.Error = err.Error()
	}
	rs.Pass = rs.Outcome == expect
	if token != "" {
		ru.checkProgress(rs, token, began)
	}
	return rs
}

// callStarted tells the call observers that a call is being sent; the
// function it returns tells them it returned.
func (ru *run) callStarted(ctx context.Context, step int, traceID string) (returned func()) {
	var fns []func()
	for _, o := range ru.obs {
		if co, ok := o.(CallObserver); ok {
			fns = append(fns, co.CallStarted(ctx, step, traceID))
		}
	}
	return func() {
		for _, f := range fns {
			f()
		}
	}
}

// shares splits a finished call's latency into the fake API's time on
// its requests (joined by trace id) and the server's own share, and notes
// which calls it repeats for the budget checks.
func (ru *run) shares(rs *reports.Step, c *Call, traceID string) {
	n, busy := ru.fakes.Upstream(traceID)
	rs.UpstreamRequests = n
	rs.UpstreamMS = min(reports.Millis(busy), rs.LatencyMS)
	rs.ServerMS = rs.LatencyMS - rs.UpstreamMS
	rs.Query = c.querySignature()
	rs.CallClass = c.Tool
	if c.Context != nil && len(*c.Context) > 0 {
		rs.CallClass += "+context"
	}
}

// newTraceParent makes a W3C traceparent with a fresh trace id; it
// returns the trace id too.
func newTraceParent() (traceID, traceParent string) {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	traceID = hex.EncodeToString(b[:16])
	return traceID, "00-" + traceID + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// progressEvery is the longest a long call may go without a progress
// notification (scenario time): most hosts give up after 60 s of silence.
const progressEvery = 15 * time.Second

// checkProgress adds a check that progress kept coming during a long call.
func (ru *run) checkProgress(rs *reports.Step, token string, began time.Time) {
	end := began.Add(time.Duration(rs.LatencyMS * float64(time.Millisecond)))
	scale := ru.r.opts.TimeScale
	if time.Duration(float64(end.Sub(began))*scale) <= progressEvery {
		return // too short to need progress
	}
	prev, worst := began, time.Duration(0)
	arrivals := ru.sess.Progress(token)
	for _, t := range arrivals {
		if t.After(end) {
			break
		}
		worst = max(worst, t.Sub(prev))
		prev = t
	}
	worst = max(worst, end.Sub(prev))
	gap := time.Duration(float64(worst) * scale)
	ru.bgMu.Lock()
	ru.res.Checks = append(ru.res.Checks, reports.Check{
		Name: fmt.Sprintf("progress_gap[step %d]", rs.Index), Phase: rs.Phase, Value: reports.Millis(gap), Unit: "ms",
		Op: "<=", Threshold: reports.Millis(progressEvery), Pass: gap <= progressEvery,
		Detail: fmt.Sprintf("%d progress notifications; longest silence %v scenario time", len(arrivals), gap.Round(time.Millisecond)),
	})
	ru.bgMu.Unlock()
}

// args builds the tool arguments. Chat and research tools get the
// required parameters filled in; other tools get only what the file says.
func (ru *run) args(c *Call, session string) map[string]any {
	args := map[string]any{}
	for k, v := range c.Args {
		args[k] = v
	}
	paths := []string{ru.project}
	if c.Context != nil {
		paths = make([]string, 0, len(*c.Context))
		for _, p := range *c.Context {
			paths = append(paths, filepath.Join(ru.project, filepath.FromSlash(p)))
		}
	}
	if IsModelTool(c.Tool) || c.Context != nil {
		args["context"] = paths
	}
	if IsModelTool(c.Tool) || session != "" {
		args["session_id"] = session
	}
	if IsModelTool(c.Tool) {
		args["instructions"] = orDefault(c.Instructions,
			fmt.Sprintf("Review this project and say what could make a second query hang (scenario %s).", ru.sc.Name))
		args["output_format"] = orDefault(c.OutputFormat, "A short plain-text answer.")
	}
	return args
}

// IsModelTool tells a tool that consults a model (chat_with_…,
// research_with_…): a call of one gets the required text parameters and,
// unless it says otherwise, the whole project as context.
func IsModelTool(tool string) bool {
	return len(tool) > 10 && (tool[:10] == "chat_with_" || (len(tool) > 14 && tool[:14] == "research_with_"))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (ru *run) startBackground(ctx context.Context, c *Call, suffix string) {
	cctx, cancel := context.WithCancel(ctx)
	b := &bgCall{cancel: cancel, done: make(chan struct{})}
	ru.bgMu.Lock()
	ru.bg = append(ru.bg, b)
	ru.bgMu.Unlock()
	go func() {
		defer close(b.done)
		defer cancel()
		b.step = ru.call(cctx, c, suffix, "")
		b.returned = time.Now()
	}()
}

// joinBackground waits up to d (real time) for every background call,
// records each, and reports whether all returned in time. Calls still out
// are cancelled, then waited for, so no goroutine outlives the scenario.
func (ru *run) joinBackground(ctx context.Context, d time.Duration) bool {
	ru.bgMu.Lock()
	bg := ru.bg
	ru.bg = nil
	ru.bgMu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	ok := true
	for _, b := range bg {
		select {
		case <-b.done:
		case <-t.C:
			ok = false
			b.cancel()
			<-b.done
		case <-ctx.Done():
			ok = false
			b.cancel()
			<-b.done
		}
		ru.record(b.step)
	}
	return ok
}

// cancelStep waits, cancels every background call, and measures how long
// each took to return and how long until the server answered a ping.
func (ru *run) cancelStep(ctx context.Context, c *CancelStep) error {
	if err := clock.Sleep(ctx, ru.clk, c.After.D()); err != nil {
		return err
	}
	rs := ru.begin(KindCancel, "cancel after "+c.After.String())
	ru.bgMu.Lock()
	bg := ru.bg
	ru.bg = nil
	ru.bgMu.Unlock()
	if len(bg) == 0 {
		ru.finish(rs, OutcomeError, "nothing in flight to cancel", false)
		return nil
	}
	at := time.Now()
	for _, b := range bg {
		b.cancel()
	}
	pass := true
	var worst time.Duration
	bound := time.NewTimer(cancelReturnBound)
	defer bound.Stop()
	for _, b := range bg {
		select {
		case <-b.done:
			worst = max(worst, b.returned.Sub(at))
		case <-bound.C:
			pass = false
			<-b.done
		}
		ru.record(b.step)
	}
	rs.CancelMS = reports.Millis(worst)
	pctx, cancel := context.WithTimeout(ctx, cancelReturnBound)
	defer cancel()
	if err := ru.sess.Ping(pctx); err != nil {
		pass = false
		rs.Error = fmt.Sprintf("no answer to a ping after the cancel: %v", err)
	}
	rs.NextOKMS = reports.Millis(time.Since(at))
	rs.Detail = fmt.Sprintf("%d call(s) cancelled", len(bg))
	ru.finish(rs, OutcomeOK, rs.Error, pass)
	// The step's latency is the cancel itself, not the wait before it.
	return nil
}

// concurrent runs Count copies of a call at once.
func (ru *run) concurrent(ctx context.Context, c *Concurrent, suffix string) {
	var wg sync.WaitGroup
	results := make([]*reports.Step, c.Count)
	for i := range c.Count {
		session := ""
		if !c.SameSession && c.Call.Session != "" {
			session = fmt.Sprintf("%s%s-%d", c.Call.Session, suffix, i+1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ru.call(ctx, c.Call, suffix, session)
		}()
	}
	wg.Wait()
	for _, rs := range results {
		rs.Kind = KindConcurrent
		ru.record(rs)
	}
}

// fault applies a fault step; with For, a timer undoes it later.
func (ru *run) fault(ctx context.Context, f *FaultStep) error {
	rs := ru.begin(KindFault, faultName(f))
	apply := func(api *APIFaults, sink *SinkFaults, clearAPI, clearSink bool) error {
		if clearAPI || api != nil {
			if err := ru.fakes.SetAPIFaults(api); err != nil {
				return fmt.Errorf("cannot set api faults: %w", err)
			}
			ru.faultWindow("api", api != nil)
		}
		if clearSink || sink != nil {
			if err := ru.fakes.SetSinkFaults(sink); err != nil {
				return fmt.Errorf("cannot set sink faults: %w", err)
			}
			ru.faultWindow("sink", sink != nil)
		}
		return nil
	}
	clearAPI, clearSink := false, false
	for _, c := range f.Clear {
		clearAPI = clearAPI || c == "api" || c == "all"
		clearSink = clearSink || c == "sink" || c == "all"
	}
	if err := apply(f.API, f.Sink, clearAPI, clearSink); err != nil {
		ru.finish(rs, OutcomeError, err.Error(), false)
		return err
	}
	ru.finish(rs, OutcomeOK, "", true)
	if f.For > 0 {
		ru.timers.Add(1)
		go func() {
			defer ru.timers.Done()
			if clock.Sleep(ctx, ru.clk, f.For.D()) != nil {
				return
			}
			rs := ru.begin(KindFault, "fault window over: clear")
			err := apply(nil, nil, f.API != nil, f.Sink != nil)
			ru.finish(rs, OutcomeOK, errText(err), err == nil)
		}()
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func faultName(f *FaultStep) string {
	switch {
	case f.API != nil && f.Sink != nil:
		return "fault: api+sink"
	case f.API != nil:
		return "fault: api"
	case f.Sink != nil:
		return "fault: sink"
	}
	return fmt.Sprintf("fault: clear %v", f.Clear)
}

// faultWindow opens or closes the shaded window of a side in the result.
func (ru *run) faultWindow(side string, on bool) {
	ru.bgMu.Lock()
	defer ru.bgMu.Unlock()
	now := reports.Millis(time.Since(ru.start))
	if i, ok := ru.faultWin[side]; ok {
		ru.res.Faults[i].EndMS = now
		delete(ru.faultWin, side)
	}
	if on {
		ru.res.Faults = append(ru.res.Faults, reports.FaultWindow{Name: side, StartMS: now, EndMS: -1})
		ru.faultWin[side] = len(ru.res.Faults) - 1
	}
}

func (ru *run) closeFaultWindows() {
	ru.bgMu.Lock()
	defer ru.bgMu.Unlock()
	now := reports.Millis(time.Since(ru.start))
	for side, i := range ru.faultWin {
		ru.res.Faults[i].EndMS = now
		delete(ru.faultWin, side)
	}
}
