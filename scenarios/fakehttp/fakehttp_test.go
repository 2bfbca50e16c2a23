package fakehttp

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDuration_JSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"340s"`, 340 * time.Second, false},
		{`"1m30s"`, 90 * time.Second, false},
		{`2.5`, 2500 * time.Millisecond, false},
		{`"soon"`, 0, true},
		{`true`, 0, true},
	} {
		var d Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.wantErr || d.D() != tc.want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v, err %v", tc.in, d.D(), err, tc.want, tc.wantErr)
		}
	}
	b, err := json.Marshal(Duration(4 * time.Minute))
	if err != nil || string(b) != `"4m0s"` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
}

func TestGate_CloseWaitsAndTurnsAway(t *testing.T) {
	var g Gate
	if !g.Enter() {
		t.Fatal("open gate refused a handler")
	}
	done := make(chan struct{})
	go func() { g.CloseAndWait(); close(done) }()
	select {
	case <-done:
		t.Fatal("CloseAndWait returned with a handler inside")
	case <-time.After(20 * time.Millisecond):
	}
	g.Leave()
	<-done
	if g.Enter() {
		t.Fatal("closed gate admitted a handler")
	}
}

func TestCounters(t *testing.T) {
	c := NewCounters("a", "b")
	c.Add("a", 2)
	c.Add("a", 3)
	if c.Load("a") != 5 || c.Load("b") != 0 {
		t.Fatalf("a=%d b=%d, want 5 and 0", c.Load("a"), c.Load("b"))
	}
	snap := c.Snapshot(1)
	c.Add("b", 1)
	if len(snap) != 2 || snap["a"] != 5 || snap["b"] != 0 {
		t.Fatalf("snapshot %v changed with the counters or lost keys", snap)
	}
}
