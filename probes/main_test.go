package probes

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Goroutine labels in debug=2 text ("labels:{...}" in the header) are
	// printed only with GODEBUG=tracebacklabels=1; the runtime re-reads
	// GODEBUG when it is set, so the parser is tested on both forms.
	goleak.VerifyTestMain(m)
	_ = os.Stdout
}
