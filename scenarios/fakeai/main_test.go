package fakeai_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newFake serves a fake on httptest and returns it with a real SDK client.
// The client does not retry unless retries > 0.
func newFake(t testing.TB, retries int, opts ...fakeai.Option) (*fakeai.Server, openai.Client, string) {
	t.Helper()
	f := fakeai.New(opts...)
	ts := httptest.NewServer(f)
	// Cleanups run last-in first-out: release stalls before httptest waits.
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = f.Close() })
	c := openai.NewClient(option.WithBaseURL(ts.URL+"/v1"), option.WithAPIKey("test-key"),
		option.WithMaxRetries(retries), option.WithRequestTimeout(30*time.Second),
		option.WithHTTPClient(ts.Client()))
	return f, c, ts.URL
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
