package probes

import (
	"testing"
	"time"
)

func TestRequestCPU(t *testing.T) {
	req := map[string]string{LabelPath: string(PathRequest)}
	bg := map[string]string{LabelPath: string(PathBackground)}
	mod := DefaultModulePrefix
	hash := []Frame{{Func: "crypto/sha256.block"}, {Func: mod + "server.(*Server).rehash", File: "/x/canary.go", Line: 40},
		{Func: mod + "server.(*Server).chatOnce", File: "/x/tools.go", Line: 600}}
	json := []Frame{{Func: "encoding/json.Marshal"}, {Func: "github.com/openai/openai-go/v3.(*Client).Do"}}
	samples := []StackSample{
		{Labels: req, Delay: 700 * time.Millisecond, Stack: hash},
		{Labels: req, Delay: 50 * time.Millisecond, Stack: json},
		{Labels: bg, Delay: time.Second, Stack: hash},  // background: not the request path
		{Labels: nil, Delay: time.Second, Stack: hash}, // unlabelled: not judged
		{Labels: req, Delay: 0, Stack: []Frame{{Func: "runtime.mcall"}}},
	}
	total, hot := RequestCPU(samples, "")
	if total != 750*time.Millisecond {
		t.Errorf("total = %v, want 750ms", total)
	}
	if len(hot) != 2 || hot[0].Frame.Short() != "server.(*Server).rehash (canary.go:40)" || hot[0].CPU != 700*time.Millisecond {
		t.Fatalf("hot = %+v", hot)
	}
	// Outside the module, the innermost non-stdlib frame is charged.
	if hot[1].Frame.Func != "github.com/openai/openai-go/v3.(*Client).Do" {
		t.Errorf("second = %+v", hot[1])
	}
}

// A call is diagnosed on CPU only when half its own share was request-path CPU.
func TestCPUDiagnosis(t *testing.T) {
	req := map[string]string{LabelPath: string(PathRequest)}
	hash := []Frame{{Func: "crypto/sha256.block"}, {Func: DefaultModulePrefix + "server.(*Server).rehash", File: "/x/canary.go", Line: 40}}
	samples := []StackSample{{Labels: req, Delay: 700 * time.Millisecond, Stack: hash}}
	d := CPUDiagnosis(5, time.Second, samples, DiagnoseOptions{})
	if d == nil || d.Cause != CauseRequestCPU || d.Culprit != "server.(*Server).rehash (canary.go:40)" || len(d.Frames) != 1 || len(d.Frames[0].Stack) != 2 {
		t.Fatalf("diagnosis %+v", d)
	}
	if d := CPUDiagnosis(5, 2*time.Second, samples, DiagnoseOptions{}); d != nil {
		t.Fatalf("0.7 s of CPU in a 2 s share is not CPU-bound: %+v", d)
	}
}
