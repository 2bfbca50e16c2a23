// Package wake keeps a schedule of absolute wake-up times as precisely as
// the machine allows, and measures how precisely that is.
//
// Go's timers are coarse on small VMs: the runtime's netpoller rounds
// sub-millisecond waits up to a whole millisecond, so on a 2-vCPU VM a
// time.Timer aimed at a 5 ms schedule wakes p50 0.6 ms and p99 1–5 ms
// late. A prober that is that late cannot judge a server whose healthy p99
// is 1–2 ms. [Precise] instead sleeps with clock_nanosleep(CLOCK_MONOTONIC,
// TIMER_ABSTIME) on an OS thread of its own, with the thread's timer slack
// cut from the kernel's default 50 µs to 1 ns: on the same VM it wakes p50
// about 0.05 ms and p99 about 0.1 ms late. It never spins: a spinning
// prober would take a core from the server it measures.
//
// # Goroutines
//
// [Clock.Run] runs the schedule on the caller's goroutine (locked to its
// OS thread for the precise clock, unlocked again on return) and returns
// when the schedule ends or ctx is done; it starts no goroutine of its
// own. [Calibrate] runs two schedules on goroutines it starts and waits
// for before it returns.
package wake
