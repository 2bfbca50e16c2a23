package wake

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// maxSleep bounds one clock_nanosleep, so Run notices a cancelled ctx
// within this long even between distant wake-ups.
const maxSleep = 10 * time.Millisecond

// Precise returns the clock that sleeps with clock_nanosleep(TIMER_ABSTIME)
// on an OS thread of its own with a 1 ns timer slack, at real-time
// priority (SCHED_FIFO 1) where the process may use it (root,
// CAP_SYS_NICE or an RLIMIT_RTPRIO above 0). It fails where the platform
// lacks clock_nanosleep.
//
// Real-time priority matters once the CPUs are busy: the kernel's fair
// scheduler lets a waking thread wait for the running one's time slice
// (p99 3.4–4.6 ms with both vCPUs of a 2-vCPU VM busy), while a SCHED_FIFO
// thread runs at once (p99 0.05–0.09 ms on the same VM). The thread
// sleeps almost all the time, so it takes next to nothing from others.
func Precise() (Clock, error) {
	if _, err := monoNow(); err != nil {
		return nil, err
	}
	return precise{fifo: fifoAllowed()}, nil
}

type precise struct{ fifo bool }

func (c precise) Name() string {
	if c.fifo {
		return "clock_nanosleep+fifo"
	}
	return "clock_nanosleep"
}

func (c precise) Run(ctx context.Context, next func() (time.Time, bool), fire func(intended, woke time.Time)) error {
	// The thread is ours alone while the schedule runs: its timer slack
	// (the kernel's license to wake it late, 50 µs by default) is cut to
	// 1 ns and its policy raised, both restored before the thread goes
	// back to the runtime.
	// A thread whose policy cannot be restored stays locked, so that it
	// ends with the calling goroutine instead of serving others at
	// real-time priority.
	runtime.LockOSThread()
	restored := true
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err == nil {
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, 0, 0, 0, 0) // 0: back to the default
	}
	if c.fifo && setFIFO() == nil {
		defer func() { restored = setNormal() == nil }()
	}
	// time.Time's monotonic reading has its own origin; map it onto
	// CLOCK_MONOTONIC once, from two reads taken back to back.
	base := time.Now()
	baseMono, err := monoNow()
	if err != nil {
		return err
	}
	for {
		at, ok := next()
		if !ok {
			return nil
		}
		if err := sleepUntil(ctx, baseMono+int64(at.Sub(base))); err != nil {
			return err
		}
		fire(at, time.Now())
	}
}

// sleepUntil sleeps until CLOCK_MONOTONIC reaches target (ns), in steps of
// at most maxSleep so that a cancelled ctx is seen.
func sleepUntil(ctx context.Context, target int64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now, err := monoNow()
		if err != nil {
			return err
		}
		if now >= target {
			return nil
		}
		step := min(target, now+int64(maxSleep))
		ts := unix.NsecToTimespec(step)
		err = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("cannot sleep with clock_nanosleep: %w", err)
		}
		if step == target && err == nil {
			return nil
		}
	}
}

func monoNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("cannot read CLOCK_MONOTONIC: %w", err)
	}
	return ts.Nano(), nil
}

// fifoAllowed tries real-time priority on a thread of its own and undoes
// it. A thread it cannot undo dies with the goroutine, still locked.
func fifoAllowed() bool {
	ok := make(chan bool, 1)
	go func() {
		runtime.LockOSThread()
		if setFIFO() != nil {
			runtime.UnlockOSThread()
			ok <- false
			return
		}
		if setNormal() != nil {
			ok <- false
			return
		}
		runtime.UnlockOSThread()
		ok <- true
	}()
	return <-ok
}

// setFIFO and setNormal change the calling thread's scheduling policy
// (pid 0 is the calling thread for sched_setattr).
func setFIFO() error {
	return unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0)
}

func setNormal() error {
	return unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
}
