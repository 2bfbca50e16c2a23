package server

import (
	"sync"
	"testing"
)

func TestHandlerCount(t *testing.T) {
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	tests := []struct {
		name      string
		before    int // handlers entered before stop
		leave     int // of those, how many leave before stop
		wantZero  bool
		wantCount int
	}{
		{"idle", 0, 0, true, 0},
		{"all left", 3, 3, true, 0},
		{"two running", 3, 1, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &handlerCount{zero: make(chan struct{})}
			for range tt.before {
				if !c.enter() {
					t.Fatal("enter refused before stop")
				}
			}
			for range tt.leave {
				c.leave()
			}
			zero := c.stop()
			if got := closed(zero); got != tt.wantZero {
				t.Errorf("zero closed = %v after stop; want %v", got, tt.wantZero)
			}
			if got := c.running(); got != tt.wantCount {
				t.Errorf("running() = %d; want %d", got, tt.wantCount)
			}
			if c.enter() {
				t.Error("enter accepted after stop")
			}
			for range tt.before - tt.leave {
				c.leave()
			}
			if !closed(zero) || !closed(c.stop()) {
				t.Error("zero not closed once the last handler left")
			}
		})
	}
}

// TestHandlerCount_concurrent races handlers entering and leaving with
// stop: zero closes exactly once, and only when none runs.
func TestHandlerCount_concurrent(t *testing.T) {
	for range 50 {
		c := &handlerCount{zero: make(chan struct{})}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					if !c.enter() {
						return
					}
					c.leave()
				}
			})
		}
		<-c.stop()
		if n := c.running(); n != 0 {
			t.Fatalf("zero closed with %d handlers running", n)
		}
		wg.Wait()
	}
}
