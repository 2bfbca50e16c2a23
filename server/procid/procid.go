// Package procid names a running process so that another process can tell
// later whether it is still alive — how a restarted server knows that the
// work recorded by a killed one is orphaned (the vector store's uploads, the
// jobs it ran) without waiting for a heartbeat to go stale.
package procid

import (
	"os"
	"strconv"
	"strings"
)

// ID names the running process on this host so that another
// process can tell later whether it is still alive: "boot-id:pid:start",
// with the kernel's boot id and the process's start time in clock ticks
// since boot (/proc/PID/stat field 22) — a pid reused by a later process,
// or the same pid after a reboot, reads as dead. "" where /proc is missing:
// liveness then rests on the heartbeat alone.
func ID(pid int) string {
	boot, ok := bootID()
	if !ok {
		return ""
	}
	start, ok := processStart(pid)
	if !ok {
		return ""
	}
	return boot + ":" + strconv.Itoa(pid) + ":" + start
}

// bootID is the kernel's id of the current boot.
func bootID() (string, bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// processStart reads a process's start time from /proc/PID/stat.
func processStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis (field 3 onwards).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(s[i+1:])
	const starttime = 22 - 3 // field 22, counted from field 3
	if len(f) <= starttime {
		return "", false
	}
	return f[starttime], true
}

// Gone reports whether the process named by id (see [ID])
// has certainly ended: it ran on this boot and its pid is gone or now
// belongs to a process started at another time, or it ran before the last
// reboot. An empty or unreadable id is never gone (unknown).
func Gone(id string) bool {
	boot, rest, ok := strings.Cut(id, ":")
	if !ok {
		return false
	}
	pidText, start, ok := strings.Cut(rest, ":")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 {
		return false
	}
	cur, ok := bootID()
	if !ok {
		return false
	}
	if cur != boot {
		return true // rebooted since
	}
	now, alive := processStart(pid)
	return !alive || now != start
}
