// Package testlock is a machine-wide lock for the heaviest integration
// tests. `go test ./...` runs two packages at once on a 2-vCPU machine,
// and a test that replays a scenario against a race-instrumented server
// and judges its figures cannot share the CPUs with a headless Chromium
// starting up: in fresh-clone CI runs that overlap stalled an idle server
// for up to 10 s and the replay could not even read its debug endpoints.
// Tests that take the lock run one at a time across packages; the rest of
// the suite still runs beside them.
package testlock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Heavy blocks until no other heavy test on this machine runs, and holds
// the lock until t ends.
func Heavy(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "secondbrain-heavy-tests.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("cannot open the heavy-test lock %s: %v", path, err)
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("cannot take the heavy-test lock %s: %v", path, err)
	}
	t.Cleanup(func() {
		_ = flock(f, syscall.LOCK_UN)
		f.Close()
	})
}

// flock retries an interrupted wait.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
