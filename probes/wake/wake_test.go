package wake

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func clocks(t *testing.T) map[string]Clock {
	t.Helper()
	cs := map[string]Clock{"go-timer": GoTimer()}
	if p, err := Precise(); err == nil {
		cs["precise"] = p
	} else {
		t.Logf("precise clock not tested: %v", err)
	}
	return cs
}

func TestClock_RunFiresEveryTimeInOrder(t *testing.T) {
	for name, c := range clocks(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			var got []time.Time
			err := c.Run(context.Background(), limit(Every(start, time.Millisecond), 20), func(intended, woke time.Time) {
				if woke.Before(intended.Add(-time.Millisecond)) {
					t.Errorf("woke %v before intended %v", woke, intended)
				}
				got = append(got, intended)
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(got) != 20 {
				t.Fatalf("fired %d times, want 20", len(got))
			}
			for k, at := range got {
				if want := start.Add(time.Duration(k) * time.Millisecond); !at.Equal(want) {
					t.Errorf("fire %d intended %v, want %v", k, at, want)
				}
			}
		})
	}
}

// A schedule already in the past is fired at once, whole: a late clock
// never skips a time, so the prober charges a stall for every probe it
// delayed.
func TestClock_RunFiresOverdueTimesWithoutSkipping(t *testing.T) {
	for name, c := range clocks(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now().Add(-time.Hour)
			n := 0
			err := c.Run(context.Background(), limit(Every(start, time.Minute), 50), func(intended, woke time.Time) {
				if woke.Sub(intended) < 10*time.Minute && n < 40 {
					t.Errorf("fire %d: lateness %v, want the hour it is overdue", n, woke.Sub(intended))
				}
				n++
			})
			if err != nil || n != 50 {
				t.Fatalf("Run = %v after %d fires, want nil after 50", err, n)
			}
		})
	}
}

func TestClock_RunStopsWhenCtxEnds(t *testing.T) {
	for name, c := range clocks(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			n := 0
			// Far-apart times: Run must notice the cancel while it sleeps.
			err := c.Run(ctx, Every(time.Now(), time.Hour), func(time.Time, time.Time) {
				n++
				cancel()
			})
			if err != context.Canceled || n != 1 {
				t.Fatalf("Run = %v after %d fires, want context.Canceled after 1", err, n)
			}
		})
	}
}

func TestHandoff_CountsWhatItCannotHandOver(t *testing.T) {
	h := NewHandoff(2)
	now := time.Now()
	for i, want := range []bool{true, true, false, false} {
		if got := h.Fire(now); got != want {
			t.Errorf("Fire %d = %v, want %v", i, got, want)
		}
	}
	if d := h.Dropped(); d != 2 {
		t.Errorf("Dropped = %d, want 2", d)
	}
	h.Close()
	n := 0
	for range h.C() {
		n++
	}
	if n != 2 {
		t.Errorf("received %d ticks, want 2", n)
	}
}

func TestCalibrate_MeasuresEveryClock(t *testing.T) {
	cal, err := Calibrate(context.Background(), CalibrateOptions{For: 100 * time.Millisecond, Interval: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Lateness{cal.Kernel, cal.Handoff, cal.GoTimer} {
		if want := map[bool]int{true: 25, false: 50}[l.Clock == "go-timer"]; l.Samples != want {
			t.Errorf("%s: %d samples, want %d", l.Clock, l.Samples, want)
		}
		if !(l.P50 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("%s: p50 %v, p99 %v, max %v out of order", l.Clock, l.P50, l.P99, l.Max)
		}
	}
	if cal.Kernel.Clock == cal.GoTimer.Clock && New().Name() != GoTimer().Name() {
		t.Errorf("calibration measured %q twice", cal.Kernel.Clock)
	}
}

func TestCalibrate_StopsWhenCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Calibrate(ctx, CalibrateOptions{For: time.Hour}); err == nil {
		t.Fatal("Calibrate with a cancelled ctx returned no error")
	}
}

func TestSummarize(t *testing.T) {
	var late []time.Duration
	for i := 1; i <= 200; i++ {
		late = append(late, time.Duration(i)*time.Microsecond)
	}
	l := summarize("x", late)
	if l.P50 != 100*time.Microsecond || l.P99 != 198*time.Microsecond || l.Max != 200*time.Microsecond || l.Samples != 200 {
		t.Errorf("summarize = %+v", l)
	}
	if z := summarize("x", nil); z.Samples != 0 || z.Max != 0 {
		t.Errorf("summarize(nil) = %+v", z)
	}
}
