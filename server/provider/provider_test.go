package provider_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, clk clock.Clock, f fakeai.Faults) (*fakeai.Server, *provider.Client) {
	t.Helper()
	fake := fakeai.New(fakeai.WithClock(clk), fakeai.WithFaults(f))
	base, stop, err := fake.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := provider.New(provider.Endpoint{Name: "openai", BaseURL: base + "/v1", APIKey: "k", KeyEnv: "OPENAI_API_KEY"},
		provider.Options{Clock: clk, MaxRetries: -1})
	t.Cleanup(func() { c.Close(); stop(); fake.Close() })
	return fake, c
}

// Background polling follows 3 s, ×1.8, capped at 30 s — in scenario time.
func TestRespond_PollBackoffOnInjectedClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fake, c := start(t, clk, fakeai.Faults{ResponseDuration: fakeai.Duration(70 * time.Second)})
	type result struct {
		r   *provider.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.Respond(context.Background(), provider.Request{Model: "o3", Input: "hi", Background: true})
		done <- result{r, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := []time.Duration{3000, 5400, 9720, 17496, 30000, 30000} // ms; the sum passes 70 s
	for i, w := range want {
		if err := clk.WaitForTimers(ctx, 1); err != nil {
			t.Fatalf("poll %d: no timer: %v", i+1, err)
		}
		polls := fake.Stats()["responses_polled"]
		clk.Advance(w*time.Millisecond - time.Millisecond)
		if clk.Pending() != 1 {
			t.Fatalf("poll %d fired before %v", i+1, w*time.Millisecond)
		}
		clk.Advance(time.Millisecond)
		for fake.Stats()["responses_polled"] == polls {
			if ctx.Err() != nil {
				t.Fatalf("poll %d did not happen at %v", i+1, w*time.Millisecond)
			}
			time.Sleep(time.Millisecond)
		}
	}
	res := <-done
	if res.err != nil || res.r.Polls != len(want) || res.r.Text == "" {
		t.Fatalf("Respond = %+v, %v", res.r, res.err)
	}
}

func TestRespond_CancelStopsPollingAndCancelsAtProvider(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fake, c := start(t, clk, fakeai.Faults{ResponseDuration: fakeai.Duration(time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Respond(ctx, provider.Request{Model: "o3", Input: "hi", Background: true})
		errc <- err
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := clk.WaitForTimers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	cancel()
	err := <-errc
	if took := time.Since(t0); !errors.Is(err, context.Canceled) || took > time.Second {
		t.Fatalf("Respond returned %v after %v; want context.Canceled at once", err, took)
	}
	c.Close() // waits for the provider-side cancel
	if n := fake.Stats()["responses_cancelled"]; n != 1 {
		t.Errorf("responses cancelled at the provider = %d, want 1", n)
	}
}

func TestMissingKeyNamesTheVariable(t *testing.T) {
	c := provider.New(provider.Endpoint{Name: "gemini", BaseURL: "http://127.0.0.1:1/v1", KeyEnv: "GEMINI_API_KEY"}, provider.Options{})
	defer c.Close()
	_, err := c.Chat(context.Background(), provider.Request{Model: "gemini-2.5-pro", Input: "hi"})
	if !errors.Is(err, provider.ErrNoAPIKey) || err == nil || !strings.Contains(err.Error(), "GEMINI_API_KEY") {
		t.Errorf("err = %v", err)
	}
}
