package load

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secondbrain-dev/secondbrain/probes/wake"
)

// fakeSender answers each call after delay(r) with class(r) (never, for
// a negative delay); it refuses TrySend for the entries in blocked (a
// full pipe).
type fakeSender struct {
	delay   func(Request) time.Duration
	class   func(Request) string
	blocked map[int]bool

	mu        sync.Mutex
	abandoned int
	timers    map[uint64]*time.Timer
}

func (f *fakeSender) TrySend(r Request, d Done) error {
	if f.blocked[r.Entry] {
		return ErrWouldBlock
	}
	f.send(r, d)
	return nil
}

func (f *fakeSender) Send(ctx context.Context, r Request, d Done) error {
	f.send(r, d)
	return nil
}

func (f *fakeSender) Abandon(r Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.abandoned++
	if t := f.timers[r.Token]; t != nil {
		t.Stop()
	}
}

func (f *fakeSender) send(r Request, d Done) {
	delay := f.delay(r)
	if delay < 0 {
		return // never answers
	}
	t := time.AfterFunc(delay, func() { d.Answered(Answer{Token: r.Token, At: time.Now(), Class: f.class(r), Detail: "fake"}) })
	f.mu.Lock()
	if f.timers == nil {
		f.timers = map[uint64]*time.Timer{}
	}
	f.timers[r.Token] = t
	f.mu.Unlock()
}

func TestRun_Accounting(t *testing.T) {
	ok := func(Request) string { return "" }
	tests := []struct {
		name     string
		profile  Profile
		mix      []Entry
		inFlight int
		sender   *fakeSender
		check    func(t *testing.T, s *Stats, sum Summary, f *fakeSender)
	}{
		{"all answered", Constant(100, time.Second), []Entry{{"a", 1}}, 10,
			&fakeSender{delay: func(Request) time.Duration { return 5 * time.Millisecond }, class: ok},
			func(t *testing.T, s *Stats, sum Summary, _ *fakeSender) {
				if sum.Sent != 100 || sum.Dropped != 0 || sum.Errors != 0 || sum.Completed != 100 {
					t.Errorf("summary %+v: want 100 sent and answered", sum)
				}
				if d := sum.P99 - 5*time.Millisecond; d < 0 || d > 50*time.Microsecond {
					t.Errorf("p99 %v, want 5ms (fake time)", sum.P99)
				}
			}},
		{"bound reached drops", Constant(100, time.Second), []Entry{{"a", 1}}, 2,
			// each call takes 50 ms: at 100/s, 5 would be in flight
			&fakeSender{delay: func(Request) time.Duration { return 50 * time.Millisecond }, class: ok},
			func(t *testing.T, s *Stats, sum Summary, _ *fakeSender) {
				if s.Scheduled() != 100 || sum.Sent+sum.Dropped != 100 {
					t.Errorf("scheduled %d, sent %d + dropped %d: want 100 in all", s.Scheduled(), sum.Sent, sum.Dropped)
				}
				if sum.Dropped < 50 {
					t.Errorf("dropped %d: want most arrivals dropped at a bound of 2", sum.Dropped)
				}
			}},
		{"timeouts and error classes", Constant(100, time.Second), []Entry{{"slow", 1}, {"bad", 1}}, 1000,
			&fakeSender{delay: func(r Request) time.Duration {
				if r.Entry == 0 {
					return -1
				}
				return time.Millisecond
			}, class: func(r Request) string { return ClassRPC(-32603) }},
			func(t *testing.T, s *Stats, sum Summary, f *fakeSender) {
				l, err := s.Report(mustMix(t, []Entry{{"slow", 1}, {"bad", 1}}), nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, tool := range l.Tools {
					switch tool.Name {
					case "slow":
						if tool.Errors[ClassTimeout] != tool.Sent || tool.Sent == 0 {
							t.Errorf("slow: %v of %d sent: want every one timed out", tool.Errors, tool.Sent)
						}
					case "bad":
						// Failures count by class, not in the latencies: a
						// server that fails fast must not lower the p99.
						if tool.Errors["rpc:-32603"] != tool.Sent || tool.Latency.Count != 0 || tool.Sent == 0 {
							t.Errorf("bad: %v, %d latencies of %d sent: want every call an error, none a latency", tool.Errors, tool.Latency.Count, tool.Sent)
						}
					}
				}
				if f.abandoned != int(l.Tools[1].Sent) {
					t.Errorf("%d calls abandoned, want the %d timed out", f.abandoned, l.Tools[1].Sent)
				}
			}},
		{"blocked transport sends late", Constant(50, time.Second), []Entry{{"a", 1}}, 100,
			&fakeSender{delay: func(Request) time.Duration { return time.Millisecond }, class: ok, blocked: map[int]bool{0: true}},
			func(t *testing.T, s *Stats, sum Summary, _ *fakeSender) {
				if s.Blocked() != 50 || sum.Completed != 50 || sum.Errors != 0 {
					t.Errorf("blocked %d, summary %+v: want 50 sent the slow way and answered", s.Blocked(), sum)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := Options{Profile: tt.profile, Mix: mustMix(t, tt.mix), MaxInFlight: tt.inFlight,
					Timeout: 200 * time.Millisecond, Clock: wake.GoTimer()}
				s, err := Run(t.Context(), o, tt.sender)
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, s, s.Summary(), tt.sender)
			})
		})
	}
}

func TestRun_StopEndsEveryCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		f := &fakeSender{delay: func(Request) time.Duration { return -1 }, class: func(Request) string { return "" }}
		o := Options{Profile: Constant(10, 10*time.Second), Mix: mustMix(t, []Entry{{"a", 1}}), MaxInFlight: 100,
			Timeout: time.Hour, Clock: wake.GoTimer()}
		s, err := Run(ctx, o, f)
		if err == nil {
			t.Fatal("a stopped run returned no error")
		}
		sum := s.Summary()
		if sum.Sent == 0 || sum.Completed != sum.Sent || f.abandoned != int(sum.Sent) {
			t.Errorf("sent %d, ended %d, abandoned %d: want every sent call ended and abandoned", sum.Sent, sum.Completed, f.abandoned)
		}
	})
}

func mustMix(t *testing.T, entries []Entry) *Mix {
	t.Helper()
	m, err := NewMix(entries, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
