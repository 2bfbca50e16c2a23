package faults

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The blocking-file-io fault must really read every byte of every context
// file (uncached, sector by sector), or its stall is not a file read; sizes
// straddle the 512-byte and 4 KiB read blocks to catch short final reads.
func TestReadContext(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int{
		"a/empty.go": 0, "a/one.go": 1, "a/b/sector.md": 511, "a/b/exact.md": 512,
		"a/b/over.md": 513, "a/page.py": 4096, "a/big.py": 48<<10 + 7,
	}
	total := 0
	for rel, n := range sizes {
		full := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	prio := filepath.Join(dir, "prio.txt")
	if err := os.WriteFile(prio, []byte("priority"), 0o644); err != nil {
		t.Fatal(err)
	}
	call := func(arguments map[string]any) json.RawMessage {
		b, err := json.Marshal(map[string]any{"name": "chat_with_o3", "arguments": arguments})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		params json.RawMessage
		want   int
	}{
		{"context tree", call(map[string]any{"context": []string{filepath.Join(dir, "a")}}), total},
		{"context and priority", call(map[string]any{"context": []string{filepath.Join(dir, "a")}, "priority_context": []string{prio}}), total + len("priority")},
		{"context as a JSON string", call(map[string]any{"context": `["` + prio + `"]`}), len("priority")},
		{"missing path", call(map[string]any{"context": []string{filepath.Join(dir, "nope")}}), 0},
		{"no context", call(map[string]any{"prompt": "hi"}), 0},
		{"malformed params", json.RawMessage(`{"arguments":`), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readContext(tt.params); got != tt.want {
				t.Errorf("read %d bytes, want %d", got, tt.want)
			}
		})
	}
}
