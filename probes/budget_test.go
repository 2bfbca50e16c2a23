package probes

import (
	"strings"
	"testing"
	"time"
)

func TestCallBudgets(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	th := DefaultThresholds()
	for _, tc := range []struct {
		name  string
		calls []CallShare
		fail  []string // names of the checks that must fail; every other passes
	}{
		{"a healthy pair", []CallShare{
			{Step: 1, Name: "q1", Query: "a", Server: ms(200), Upstream: ms(90)},
			{Step: 2, Name: "q2", Query: "a", Server: ms(150), Upstream: ms(20)},
		}, nil},
		{"the second query 16 times as slow", []CallShare{
			{Step: 1, Name: "q1", Query: "a", Server: ms(120), Upstream: ms(90)},
			{Step: 2, Name: "q2", Query: "a", Server: ms(2000), Upstream: ms(20)},
		}, []string{"call.repeat_ms[step 2]"}},
		{"slow upstream is not the server's", []CallShare{
			{Step: 1, Name: "q1", Query: "a", Server: ms(120), Upstream: ms(90)},
			{Step: 2, Name: "q2", Query: "a", Server: ms(130), Upstream: ms(60000)},
		}, nil},
		{"small shares get the slack", []CallShare{
			{Step: 1, Name: "q1", Query: "a", Server: ms(2), Upstream: ms(1)},
			{Step: 2, Name: "q2", Query: "a", Server: ms(200), Upstream: ms(1)},
		}, nil},
		{"different queries are not compared", []CallShare{
			{Step: 1, Name: "no-context", Query: "a", Server: ms(5)},
			{Step: 2, Name: "context", Query: "b", Server: ms(900)},
		}, nil},
		{"over the cap", []CallShare{
			{Step: 3, Name: "q", Query: "a", Server: 6 * time.Second},
		}, []string{"call.server_ms[step 3]"}},
		{"a fault lifted a new query's share 5-fold", []CallShare{
			{Step: 1, Name: "before", Query: "a", Class: "chat+context", Server: ms(200)},
			{Step: 3, Name: "during", Query: "b", Class: "chat+context", Faulted: true, Server: ms(1000)},
		}, []string{"call.server_ms[step 3]"}},
		{"under a fault within 3 × the unfaulted calls", []CallShare{
			{Step: 1, Name: "before", Query: "a", Class: "chat+context", Server: ms(200)},
			{Step: 3, Name: "during", Query: "b", Class: "chat+context", Faulted: true, Server: ms(550)},
		}, nil},
		{"the largest unfaulted share of the class is the reference", []CallShare{
			{Step: 1, Name: "cold", Query: "a", Class: "chat+context", Server: ms(400)},
			{Step: 2, Name: "warm", Query: "b", Class: "chat+context", Server: ms(100)},
			{Step: 3, Name: "during", Query: "c", Class: "chat+context", Faulted: true, Server: ms(1100)},
		}, nil},
		{"no unfaulted call of the class: the cap only", []CallShare{
			{Step: 1, Name: "no-context", Query: "a", Class: "chat", Server: ms(100)},
			{Step: 3, Name: "during", Query: "b", Class: "chat+context", Faulted: true, Server: ms(2000)},
		}, nil},
		{"unfaulted calls are not judged against each other", []CallShare{
			{Step: 1, Name: "warm", Query: "a", Class: "chat", Server: ms(100)},
			{Step: 2, Name: "other", Query: "b", Class: "chat", Server: ms(1500)},
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c checker
			th.callBudgets(&c, tc.calls)
			failed := map[string]bool{}
			for _, ch := range c.out {
				if !ch.Pass {
					failed[ch.Name] = true
				}
			}
			for _, want := range tc.fail {
				if !failed[want] {
					t.Errorf("%s passed, want it failed: %+v", want, c.out)
				}
				delete(failed, want)
			}
			for name := range failed {
				t.Errorf("%s failed: %+v", name, c.out)
			}
		})
	}
	// The repeat check says what it compared.
	var c checker
	th.callBudgets(&c, []CallShare{{Step: 1, Name: "q1", Query: "a", Server: ms(100)}, {Step: 4, Name: "q2", Query: "a", Server: ms(900)}})
	if d := c.out[len(c.out)-1].Detail; !strings.Contains(d, `the same query in step 1 ("q1")`) {
		t.Errorf("detail %q", d)
	}
	// ... and so does the budget under a fault.
	c = checker{}
	th.callBudgets(&c, []CallShare{{Step: 1, Name: "q1", Query: "a", Class: "t", Server: ms(100)},
		{Step: 4, Name: "q2", Query: "b", Class: "t", Faulted: true, Server: ms(900)}})
	if d := c.out[len(c.out)-1].Detail; !strings.Contains(d, `unfaulted t calls (step 1, "q1")`) || c.out[len(c.out)-1].Threshold != 350 {
		t.Errorf("detail %q, threshold %v", d, c.out[len(c.out)-1].Threshold)
	}
}
