package scenarios

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if serveTestServer() {
		return
	}
	goleak.VerifyTestMain(m)
}
