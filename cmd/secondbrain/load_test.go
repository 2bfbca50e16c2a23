package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseCalls: --call says which calls send files; a tool that consults
// no model gets no context argument it did not ask for.
func TestParseCalls(t *testing.T) {
	tests := []struct {
		call, want string
	}{
		{"chat_with_o3", `map[call:map[context:[] tool:chat_with_o3] weight:1]`},
		{"chat_with_o3+context:2", `map[call:map[context:[.] tool:chat_with_o3] weight:2]`},
		{`echo:3:{"message":"hi"}`, `map[call:map[args:map[message:hi] tool:echo] weight:3]`},
		{"echo+context", `map[call:map[context:[.] tool:echo] weight:1]`},
	}
	for _, tt := range tests {
		mix, err := parseCalls([]string{tt.call})
		if err != nil {
			t.Fatalf("%s: %v", tt.call, err)
		}
		if got := fmt.Sprint(mix[0]); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.call, got, tt.want)
		}
	}
	for _, bad := range []string{"echo:0", "echo:x", `echo:1:[1]`} {
		if _, err := parseCalls([]string{bad}); err == nil || !strings.Contains(err.Error(), "--call") {
			t.Errorf("%s: error %v, want one naming --call", bad, err)
		}
	}
}
