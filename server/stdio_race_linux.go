//go:build linux && race

package server

import (
	"runtime"
	"unsafe"
)

// ioSync stands for the data a pipe carries between processes (or, in
// tests, goroutines). os.File's reads and writes tell the race detector
// that a read sees what was written before it; pipeIn and pipeFD make raw
// syscalls, so they say it themselves.
var ioSync int64

func raceReleaseIO() { runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync)) }
func raceAcquireIO() { runtime.RaceAcquire(unsafe.Pointer(&ioSync)) }
