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
