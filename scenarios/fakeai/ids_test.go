package fakeai_test

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
)

func TestIDNamespace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []fakeai.Option
		prefix   string
		vsPrefix string
	}{
		{"default is deterministic", nil, "resp_000000000001", "vs_0000"},
		{"namespaced", []fakeai.Option{fakeai.WithIDNamespace("run7")}, "resp_run7_000000000001", "vs_run7_0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, _ := newFake(t, 0, tc.opts...)
			r, err := c.Responses.New(testCtx(t), responses.ResponseNewParams{
				Model: openai.ChatModelO3,
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != tc.prefix {
				t.Fatalf("id = %q, want %q", r.ID, tc.prefix)
			}
			vs, err := c.VectorStores.New(testCtx(t), openai.VectorStoreNewParams{Name: openai.String("x")})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(vs.ID, tc.vsPrefix) {
				t.Fatalf("vector store id %q, want prefix %q", vs.ID, tc.vsPrefix)
			}
		})
	}
}
