package probes

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/secondbrain-dev/secondbrain/reports"
)

// CauseRequestCPU: a call's own share went to CPU on the request path
// (its pprof-labelled goroutines were running, not waiting); the culprit
// is the function of the module under test that burned most of it.
const CauseRequestCPU = "request-cpu"

// HotFunc is one function's share of the request path's CPU.
type HotFunc struct {
	Frame Frame // the function, at its hottest line
	CPU   time.Duration
	Stack []Frame // an example stack, leaf first
}

// RequestCPU sums the CPU samples of goroutines labelled path=request and
// ranks the functions they ran in: each sample is charged to its innermost
// frame in the module under test (modulePrefix; "" means
// [DefaultModulePrefix]), else to its innermost frame outside the standard
// library, so a hot loop is named by the server function that runs it,
// not by sha256 or the runtime. The result is sorted, hottest first.
func RequestCPU(samples []StackSample, modulePrefix string) (total time.Duration, hot []HotFunc) {
	if modulePrefix == "" {
		modulePrefix = DefaultModulePrefix
	}
	type acc struct {
		HotFunc
		lineCPU map[int]time.Duration
	}
	byFunc := map[string]*acc{}
	for _, s := range samples {
		if s.Labels[LabelPath] != string(PathRequest) || s.Delay <= 0 {
			continue
		}
		total += s.Delay
		i := CulpritFrame(s.Stack, modulePrefix)
		if i < 0 {
			continue
		}
		f := s.Stack[i]
		a := byFunc[f.Func]
		if a == nil {
			a = &acc{HotFunc: HotFunc{Frame: f, Stack: s.Stack}, lineCPU: map[int]time.Duration{}}
			byFunc[f.Func] = a
		}
		a.CPU += s.Delay
		a.lineCPU[f.Line] += s.Delay
		if a.lineCPU[f.Line] > a.lineCPU[a.Frame.Line] {
			a.Frame, a.Stack = f, s.Stack
		}
	}
	for _, a := range byFunc {
		hot = append(hot, a.HotFunc)
	}
	slices.SortFunc(hot, func(a, b HotFunc) int {
		return cmp.Or(cmp.Compare(b.CPU, a.CPU), cmp.Compare(a.Frame.Func, b.Frame.Func))
	})
	return total, hot
}

// CPUDiagnosis names where a call's own share went when its request path
// ran rather than waited: at least half of own was path=request CPU in the
// step's profile window (samples). It is nil otherwise. The culprit is the
// function that burned most; the frames are the five hottest.
func CPUDiagnosis(step int, own time.Duration, samples []StackSample, opts DiagnoseOptions) *reports.Diagnosis {
	opts = opts.withDefaults()
	onCPU, hot := RequestCPU(samples, opts.ModulePrefix)
	if len(hot) == 0 || onCPU < own/2 {
		return nil
	}
	d := &reports.Diagnosis{Cause: CauseRequestCPU, Culprit: hot[0].Frame.Short(),
		Summary: fmt.Sprintf("request-cpu: step %d's request path ran %s on CPU of the call's %s own share; hottest %s (%s)",
			step, onCPU.Round(time.Millisecond), own.Round(time.Millisecond), hot[0].Frame.Short(), hot[0].CPU.Round(time.Millisecond))}
	for _, h := range hot[:min(len(hot), 5)] {
		d.Frames = append(d.Frames, reports.Culprit{Frame: h.Frame.Short(), Cause: CauseRequestCPU,
			WaitMS: reports.Millis(h.CPU), Source: "cpu", Stack: formatStack(h.Stack, opts.StackDepth)})
	}
	return d
}
