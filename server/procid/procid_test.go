package procid

import (
	"fmt"
	"os"
	"testing"
)

func TestGone(t *testing.T) {
	me := ID(os.Getpid())
	boot, ok := bootID()
	if me == "" || !ok {
		t.Skip("no /proc")
	}
	tests := []struct {
		id   string
		gone bool
	}{
		{me, false},
		{"", false},
		{"garbage", false},
		{fmt.Sprintf("%s:%d:1", boot, os.Getpid()), true},  // pid reused by a later process
		{"00000000-0000-0000-0000-000000000000:1:1", true}, // another boot
		{fmt.Sprintf("%s:%d:5", boot, 1<<30), true},        // no such pid
	}
	for _, tt := range tests {
		if got := Gone(tt.id); got != tt.gone {
			t.Errorf("Gone(%q) = %v, want %v", tt.id, got, tt.gone)
		}
	}
}
