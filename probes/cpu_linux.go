package probes

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/stat and /proc/PID/stat times:
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// ReadCPU reads the CPU time the whole machine has spent busy (user,
// system, interrupts and time stolen by the hypervisor) and the part of it
// spent by the processes pids (this process is 0's stand-in: pass
// os.Getpid()). A pid that is gone counts as nothing.
func ReadCPU(pids ...int) (CPUReading, error) {
	r := CPUReading{At: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return r, fmt.Errorf("cannot read the machine's CPU times: %w", err)
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return r, fmt.Errorf("cannot parse /proc/stat's cpu line %q", line)
	}
	// user nice system idle iowait irq softirq steal: all but idle and
	// iowait are CPU the machine did not have free.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return r, fmt.Errorf("cannot parse /proc/stat's cpu line %q: %w", line, err)
		}
		r.Busy += time.Duration(v) * clockTick
	}
	for _, pid := range pids {
		r.Procs += procCPU(pid)
	}
	return r, nil
}

// procCPU is a process's user + system time, 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	var d time.Duration
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0
		}
		d += time.Duration(v) * clockTick
	}
	return d
}
