package probes

import (
	"strings"
	"testing"
	"time"
)

// A call's own share is diagnosed from its step: upstream waits are left
// out, and a lock wait names the releaser with the most contention.
func TestOwnShareDiagnosis(t *testing.T) {
	mod := DefaultModulePrefix
	waiter := []Frame{{Func: "sync.(*Mutex).Lock", File: "/go/mutex.go", Line: 46},
		{Func: mod + "server.(*Server).lockHistory", File: "/x/canary.go", Line: 122},
		{Func: mod + "server.(*Server).chatOnce", File: "/x/tools.go", Line: 596}}
	upstream := []Frame{{Func: "net/http.(*persistConn).roundTrip"}, {Func: "net/http.(*Transport).RoundTrip"},
		{Func: "net/http.send"}, {Func: "net/http.(*Client).do"},
		{Func: mod + "server/provider.(*Client).create", File: "/x/provider.go", Line: 288}}
	holder := []Frame{{Func: "sync.(*Mutex).Unlock", File: "/go/mutex.go", Line: 65},
		{Func: mod + "server.(*Server).compact", File: "/x/canary.go", Line: 132}}
	other := []Frame{{Func: "sync.(*Mutex).Unlock"}, {Func: mod + "server/session.(*Store).Put", File: "/x/store.go", Line: 9}}
	ev := Evidence{
		Block: []StackSample{
			{Count: 1, Delay: 900 * time.Millisecond, Stack: waiter},
			{Count: 5, Delay: 3 * time.Second, Stack: upstream},
		},
		Mutex: []StackSample{
			{Count: 1, Delay: 940 * time.Millisecond, Stack: holder},
			{Count: 3, Delay: time.Millisecond, Stack: other},
		},
	}
	d := OwnShareDiagnosis(ev, DiagnoseOptions{})
	if d == nil || d.Cause != CauseLockHeld || !strings.HasPrefix(d.Culprit, "server.(*Server).lockHistory") {
		t.Fatalf("diagnosis %+v", d)
	}
	if d.Holder == nil || !strings.HasPrefix(d.Holder.Frame, "server.(*Server).compact") || len(d.Holder.Stack) == 0 {
		t.Fatalf("holder %+v", d.Holder)
	}
	if !strings.Contains(d.Summary, "held by server.(*Server).compact") {
		t.Errorf("summary %q", d.Summary)
	}
	// Without mutex evidence the wait is named, with no holder.
	ev.Mutex = nil
	if d := OwnShareDiagnosis(ev, DiagnoseOptions{}); d.Holder != nil || d.Cause == CauseLockHeld || !strings.HasPrefix(d.Culprit, "server.(*Server).lockHistory") {
		t.Fatalf("without a holder: %+v", d)
	}
}
