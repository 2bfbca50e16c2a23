package probes

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestStallDiagnosis(t *testing.T) {
	text, err := os.ReadFile("testdata/stall-held-lock.txt")
	if err != nil {
		t.Fatal(err)
	}
	gs, err := ParseGoroutines(text)
	if err != nil {
		t.Fatal(err)
	}
	endedFirst := func(id string) bool { return id == "aaaa0000000000000000000000000001" }
	opts := DiagnoseOptions{ModulePrefix: "example.com/app/"}
	tests := []struct {
		name       string
		trace      string
		ended      func(string) bool
		wantNil    bool
		wantCause  string
		wantFrame  string
		wantHolder string // "" means none named
	}{
		{"waiter and the holder an ended call left behind", "aaaa0000000000000000000000000002", endedFirst,
			false, CauseLockHeld, "server.(*Server).lockHistory", "compactHistoryLater.1 (history.go:133)"},
		// Without knowing the first call ended, the upload of a call in
		// flight that has the lock's owner struct in hand outranks it:
		// which calls have ended is evidence the runner must pass.
		{"ends unknown", "aaaa0000000000000000000000000002", nil,
			false, CauseLockHeld, "server.(*Server).lockHistory", "server.(*Server).upload (upload.go:40)"},
		{"a call with no goroutine in the dump", "bbbb0000000000000000000000000009", endedFirst, true, "", "", ""},
		{"no trace id", "", endedFirst, true, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := StallDiagnosis(gs, tt.trace, 3*time.Second, tt.ended, opts)
			if tt.wantNil {
				if d != nil {
					t.Fatalf("StallDiagnosis = %+v, want nil", d)
				}
				return
			}
			if d == nil {
				t.Fatal("StallDiagnosis = nil")
			}
			if d.Cause != tt.wantCause || !strings.Contains(d.Culprit, tt.wantFrame) {
				t.Errorf("cause %q culprit %q, want %q at %q", d.Cause, d.Culprit, tt.wantCause, tt.wantFrame)
			}
			switch {
			case tt.wantHolder == "" && d.Holder != nil:
				t.Errorf("holder %q, want none", d.Holder.Frame)
			case tt.wantHolder != "" && (d.Holder == nil || !strings.Contains(d.Holder.Frame, tt.wantHolder)):
				t.Errorf("holder %+v, want %q", d.Holder, tt.wantHolder)
			}
			if !strings.Contains(d.Summary, "goroutine 1011") {
				t.Errorf("summary %q does not name the waiting goroutine", d.Summary)
			}
		})
	}
}

func TestHolderOf_CoWaitersAndAddress(t *testing.T) {
	text, _ := os.ReadFile("testdata/stall-held-lock.txt")
	gs, _ := ParseGoroutines(text)
	var w Goroutine
	for _, g := range gs {
		if g.ID == 1011 {
			w = g
		}
	}
	if a, ok := WaitAddress(w); !ok || a != 0x47802f45c14 {
		t.Fatalf("WaitAddress = %#x, %v; want 0x47802f45c14", a, ok)
	}
	// Only goroutines that cannot hold it: the co-waiter and the reader.
	var rest []Goroutine
	for _, g := range gs {
		if g.ID == 1011 || g.ID == 1012 || g.ID == 55 {
			rest = append(rest, g)
		}
	}
	if h, _, why, ok := HolderOf(rest, w, "example.com/app/", nil); ok {
		t.Errorf("HolderOf named goroutine %d (%s); a co-waiter or an unrelated reader is no holder", h.ID, why)
	}
}

func TestArgWords(t *testing.T) {
	tests := []struct {
		args string
		want []uint64
	}{
		{"0x47802f45c14", []uint64{0x47802f45c14}},
		{"0x1?, 0x2?, 0x3", []uint64{0x3}},
		{"{0x260e010, 0x47803124320}, {0x25f6050?, ...}", []uint64{0x260e010, 0x47803124320}},
		{"_, {_, _}", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := argWords(tt.args)
		if len(got) != len(tt.want) {
			t.Errorf("argWords(%q) = %x, want %x", tt.args, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("argWords(%q) = %x, want %x", tt.args, got, tt.want)
			}
		}
	}
}

func TestFuncReceiver(t *testing.T) {
	tests := map[string]string{
		"example.com/app/server.(*Server).lockHistory":                                         "(*Server)",
		"example.com/app/server.(*Server).chatOnce.deferwrap1.(*Server).compactHistoryLater.1": "(*Server)",
		"example.com/app/server.readContext":                                                   "",
		"example.com/app/server.New.func1":                                                     "",
		"main.(*app).run":                                                                      "(*app)",
	}
	for fn, want := range tests {
		if got := funcReceiver(fn); got != want {
			t.Errorf("funcReceiver(%q) = %q, want %q", fn, got, want)
		}
	}
}
