package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: the scenario parser never panics, and what it accepts it
// accepts again from its own validated fields (a scenario that parses has
// a name and at least one step, or an error says why not).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("catalog", "*.yaml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: x\nsteps:\n  - call: {tool: chat_with_o3}\n"))
	f.Add([]byte("name: x\nsteps: [{gap: 1s}]\nthresholds: {ping_p99_max: 5ms}\n"))
	f.Add([]byte("name: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if sc == nil || sc.Name == "" || len(sc.Steps) == 0 {
			t.Errorf("accepted a scenario without a name or steps: %+v", sc)
		}
	})
}
