package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// inProcessFakes are the default fakes: scenarios/fakeai and
// scenarios/fakesink on loopback, on the scenario's scaled clock.
type inProcessFakes struct {
	api     *fakeai.Server
	apiURL  string
	stopAPI func()
	sink    sinkFake
}

// startFakes starts the in-process fakes for one scenario.
func startFakes(ctx context.Context, clk clock.Clock, sc *Scenario) (Fakes, error) {
	f := &inProcessFakes{api: fakeai.New(fakeai.WithClock(clk))}
	url, stop, err := f.api.Start(ctx, "127.0.0.1:0")
	if err != nil {
		_ = f.api.Close()
		return nil, fmt.Errorf("cannot start fake API: %w", err)
	}
	f.apiURL, f.stopAPI = url, stop
	if f.sink, err = startSink(ctx, clk); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (f *inProcessFakes) APIURL() string { return f.apiURL }

func (f *inProcessFakes) SinkURL() string {
	if f.sink == nil {
		return ""
	}
	return f.sink.URL()
}

func (f *inProcessFakes) SetAPIFaults(a *APIFaults) error {
	ff := apiFaults(a)
	if err := ff.Validate(); err != nil {
		return fmt.Errorf("fake API refused the faults: %w", err)
	}
	f.api.SetFaults(ff)
	return nil
}

func (f *inProcessFakes) SetSinkFaults(s *SinkFaults) error {
	if f.sink == nil {
		if s != nil {
			return fmt.Errorf("no fake sink to set faults on")
		}
		return nil
	}
	return f.sink.SetFaults(s)
}

func (f *inProcessFakes) APIStats() map[string]int64 { return f.api.Stats() }

func (f *inProcessFakes) Upstream(traceID string) (int, time.Duration) {
	u := f.api.Upstream(traceID)
	return u.Requests, u.Busy
}

func (f *inProcessFakes) UpstreamActivity(traceID string) (bool, time.Time) {
	return f.api.Activity(traceID)
}

func (f *inProcessFakes) SinkStats() map[string]int64 {
	if f.sink == nil {
		return nil
	}
	return f.sink.Stats()
}

// Close stops the sink and the API; Close on the API releases requests it
// holds stalled, so the server's in-flight uploads end too.
func (f *inProcessFakes) Close() error {
	var err error
	if f.sink != nil {
		err = f.sink.Close()
	}
	if f.stopAPI != nil {
		f.stopAPI()
	}
	if cErr := f.api.Close(); cErr != nil && err == nil {
		err = cErr
	}
	return err
}

// apiFaults maps the scenario's fault keys onto the fake's fault model.
func apiFaults(a *APIFaults) fakeai.Faults {
	var f fakeai.Faults
	if a == nil {
		return f
	}
	d := func(x Duration) fakeai.Duration { return fakeai.Duration(x) }
	f.UploadLatency = d(a.UploadLatency)
	f.ResponseLatency = d(a.ResponseLatency)
	f.PollLatency = d(a.PollLatency)
	f.ChatLatency = d(a.ChatLatency)
	f.DeleteLatency = d(a.DeleteLatency)
	f.VectorStoreLatency = d(a.VectorStoreLatency)
	f.ResponseDuration = d(a.ResponseDuration)
	f.BatchDuration = d(a.BatchDuration)
	if t := a.Throttle; t != nil {
		f.ThrottleFactor = t.Factor
		f.ThrottleAfterUploads = t.AfterUploads
		f.ThrottleAfterBytes = int64(t.AfterBytes)
		f.ThrottleBase = d(t.Base)
		f.Recovery = d(t.Recovery)
	}
	rule := func(r *Rule) fakeai.Rule {
		if r == nil {
			return fakeai.Rule{}
		}
		return fakeai.Rule{Count: r.Count, Every: r.Every, Paths: append([]string(nil), r.Paths...),
			RetryAfter: d(r.RetryAfter), Status: r.Status}
	}
	f.RateLimit = rule(a.RateLimit)
	f.ServerErrors = rule(a.ServerErrors)
	f.Stall = rule(a.Stall)
	f.DeleteStall = rule(a.DeleteStall)
	f.StoreLimit = a.StoreLimit
	f.FailFiles = append([]string(nil), a.FailFiles...)
	return f
}

// prefillStores creates n idle vector stores at the fake API, so a
// scenario starts at (or near) the store limit, as the original server's
// account did at 99 of 100.
func prefillStores(ctx context.Context, apiURL string, n int) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		body := fmt.Sprintf(`{"name":"leftover-%03d"}`, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/v1/vector_stores", bytes.NewBufferString(body))
		if err != nil {
			return fmt.Errorf("cannot build vector store prefill request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer sk-fake-replay")
		req.Header.Set("OpenAI-Beta", "assistants=v2")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("cannot prefill vector store %d at the fake API: %w", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("cannot prefill vector store %d at the fake API: status %d", i, resp.StatusCode)
		}
	}
	return nil
}
