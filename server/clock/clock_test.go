package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFake_AdvanceFiresDueTimers(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	a := f.NewTimer(time.Second)
	b := f.NewTimer(3 * time.Second)
	f.Advance(2 * time.Second)
	select {
	case <-a.C():
	default:
		t.Fatal("timer a did not fire after its deadline")
	}
	select {
	case <-b.C():
		t.Fatal("timer b fired early")
	default:
	}
	if !b.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	if a.Stop() {
		t.Fatal("Stop of a fired timer reported true")
	}
	if f.Pending() != 0 {
		t.Fatalf("pending = %d, want 0", f.Pending())
	}
}

func TestSleep_ContextCancel(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, f, time.Hour) }()
	if err := f.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
}

func TestScaled_RealDuration(t *testing.T) {
	for _, tc := range []struct {
		scale float64
		in    time.Duration
		want  time.Duration
	}{
		{60, 4 * time.Minute, 4 * time.Second},
		{1, time.Second, time.Second},
		{0, time.Second, time.Second}, // zero scale means real time
	} {
		if got := NewScaled(tc.scale).Real(tc.in); got != tc.want {
			t.Errorf("scale %v: Real(%v) = %v, want %v", tc.scale, tc.in, got, tc.want)
		}
	}
}

func TestWithTimeoutCause(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	cause := errors.New("tool timeout")
	ctx, cancel := WithTimeoutCause(context.Background(), f, time.Minute, cause)
	defer cancel()
	f.Advance(59 * time.Second)
	select {
	case <-ctx.Done():
		t.Fatal("ended before its scenario-time deadline")
	default:
	}
	f.Advance(time.Second)
	<-ctx.Done()
	if got := context.Cause(ctx); !errors.Is(got, cause) {
		t.Errorf("cause %v; want %v", got, cause)
	}
	// cancel ends it at once, with context.Canceled.
	ctx2, cancel2 := WithTimeoutCause(context.Background(), f, time.Hour, cause)
	cancel2()
	<-ctx2.Done()
	if !errors.Is(context.Cause(ctx2), context.Canceled) {
		t.Errorf("cause after cancel: %v", context.Cause(ctx2))
	}
}

// Clocks of one origin and scale agree whenever they were made; one
// without an origin (or with one still to come) counts from its making.
func TestScaledFrom_sharedOrigin(t *testing.T) {
	origin := time.Now().Add(-10 * time.Second)
	a := NewScaledFrom(100, origin)
	b := NewScaledFrom(100, origin)
	ta, tb := a.Now(), b.Now()
	if d := tb.Sub(ta); d < 0 || d > time.Second { // 100× the real gap between the two reads
		t.Errorf("two clocks of one origin differ by %v", d)
	}
	if ahead := ta.Sub(time.Now()); ahead < 900*time.Second {
		t.Errorf("10 s after its origin a 100× clock is %v ahead of real time; want ~990 s", ahead)
	}
	for _, o := range []time.Time{{}, time.Now().Add(time.Hour)} {
		c := NewScaledFrom(100, o)
		if d := c.Now().Sub(time.Now()); d > time.Second || d < -time.Second {
			t.Errorf("origin %v: a new clock is %v off real time; want ~0", o, d)
		}
		if o := c.Origin(); time.Since(o) > time.Second {
			t.Errorf("origin %v: Origin() = %v, want about now", o, c.Origin())
		}
	}
}
