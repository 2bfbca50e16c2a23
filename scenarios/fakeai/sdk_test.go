package fakeai_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/secondbrain-dev/secondbrain/scenarios/fakeai"
	"github.com/secondbrain-dev/secondbrain/server/clock"
)

func upload(t *testing.T, c openai.Client, name, content string) *openai.FileObject {
	t.Helper()
	f, err := c.Files.New(testCtx(t), openai.FileNewParams{
		File:    openai.File(strings.NewReader(content), name, "text/plain"),
		Purpose: openai.FilePurposeAssistants,
	})
	if err != nil {
		t.Fatalf("cannot upload %q: %v", name, err)
	}
	return f
}

func apiError(t *testing.T, err error, status int) *openai.Error {
	t.Helper()
	var ae *openai.Error
	if !errors.As(err, &ae) {
		t.Fatalf("want *openai.Error with status %d, got %v", status, err)
	}
	if ae.StatusCode != status {
		t.Fatalf("status = %d, want %d (%v)", ae.StatusCode, status, err)
	}
	return ae
}

func echoOf(t *testing.T, text string) fakeai.Echo {
	t.Helper()
	e, err := fakeai.ParseEcho(text)
	if err != nil {
		t.Fatalf("ParseEcho(%q): %v", text, err)
	}
	return e
}

func TestSDK_Models(t *testing.T) {
	_, c, _ := newFake(t, 0)
	page, err := c.Models.List(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Contains(ids, "o3") || !slices.Contains(ids, "gemini-2.5-pro") {
		t.Fatalf("models = %v", ids)
	}
	m, err := c.Models.Get(testCtx(t), "o3")
	if err != nil || m.ID != "o3" {
		t.Fatalf("get o3: %v %v", m, err)
	}
	_, err = c.Models.Get(testCtx(t), "nope")
	apiError(t, err, 404)
}

func TestSDK_Files(t *testing.T) {
	f, c, _ := newFake(t, 0)
	ctx := testCtx(t)
	a := upload(t, c, "a.go", "package a")
	b := upload(t, c, "dir/b.md", "# b")
	if a.Filename != "a.go" || a.Bytes != 9 || a.Purpose != "assistants" || a.Status != "processed" {
		t.Fatalf("uploaded = %+v", a)
	}
	got, err := c.Files.Get(ctx, b.ID)
	if err != nil || got.Filename != "dir/b.md" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	var listed []string
	iter := c.Files.ListAutoPaging(ctx, openai.FileListParams{Limit: openai.Int(1)})
	for iter.Next() {
		listed = append(listed, iter.Current().ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{b.ID, a.ID}; !slices.Equal(listed, want) {
		t.Fatalf("listed %v, want %v (newest first, paged by 1)", listed, want)
	}
	del, err := c.Files.Delete(ctx, a.ID)
	if err != nil || !del.Deleted {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.Files.Get(ctx, a.ID)
	apiError(t, err, 404)
	_, err = c.Files.Delete(ctx, a.ID)
	apiError(t, err, 404)
	st := f.Stats()
	if st["files_uploaded"] != 2 || st["bytes_uploaded"] != 12 || st["files_deleted"] != 1 || st["files_alive"] != 1 {
		t.Fatalf("stats = %v", st)
	}
}

// A client that deletes what it lists while paging (the server's crash
// recovery does) still sees every object: the cursor it sends next names
// an object already gone. Before the fix the listing ended at page one and
// the server dropped a crashed upload's record while its file lived on.
func TestSDK_FilesPagedWhileDeleting(t *testing.T) {
	for _, order := range []string{"desc", "asc"} {
		t.Run(order, func(t *testing.T) {
			_, c, _ := newFake(t, 0)
			ctx := testCtx(t)
			var want []string
			for i := range 7 {
				want = append(want, upload(t, c, fmt.Sprintf("f%d.txt", i), "x").ID)
			}
			if order == "desc" {
				slices.Reverse(want)
			}
			var listed []string
			iter := c.Files.ListAutoPaging(ctx, openai.FileListParams{Limit: openai.Int(2), Order: openai.FileListParamsOrder(order)})
			for iter.Next() {
				id := iter.Current().ID
				listed = append(listed, id)
				if _, err := c.Files.Delete(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(listed, want) {
				t.Fatalf("listed %v while deleting, want %v", listed, want)
			}
		})
	}
}

func TestSDK_VectorStores(t *testing.T) {
	f, c, _ := newFake(t, 0)
	ctx := testCtx(t)
	a := upload(t, c, "alpha.txt", "the quick brown fox")
	b := upload(t, c, "beta.txt", "lazy dogs sleep; fox fox")
	vs, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("proj"), FileIDs: []string{a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if vs.Name != "proj" || vs.FileCounts.Total != 1 || vs.Status != "completed" {
		t.Fatalf("created = %+v", vs)
	}
	vf, err := c.VectorStores.Files.New(ctx, vs.ID, openai.VectorStoreFileNewParams{FileID: b.ID})
	if err != nil || vf.Status != "completed" || vf.VectorStoreID != vs.ID {
		t.Fatalf("attach: %+v %v", vf, err)
	}
	vf, err = c.VectorStores.Files.Get(ctx, vs.ID, b.ID)
	if err != nil || vf.Status != "completed" {
		t.Fatalf("get file: %+v %v", vf, err)
	}
	got, err := c.VectorStores.Get(ctx, vs.ID)
	if err != nil || got.FileCounts.Completed != 2 || got.UsageBytes != a.Bytes+b.Bytes {
		t.Fatalf("get = %+v, %v", got, err)
	}
	vs2, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("other")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	iter := c.VectorStores.ListAutoPaging(ctx, openai.VectorStoreListParams{Limit: openai.Int(1)})
	for iter.Next() {
		ids = append(ids, iter.Current().ID)
	}
	if err := iter.Err(); err != nil || !slices.Equal(ids, []string{vs2.ID, vs.ID}) {
		t.Fatalf("list = %v, %v", ids, err)
	}
	res, err := c.VectorStores.Search(ctx, vs.ID, openai.VectorStoreSearchParams{
		Query: openai.VectorStoreSearchParamsQueryUnion{OfString: openai.String("fox")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Data[0].Filename != "beta.txt" || res.Data[0].Content[0].Text == "" {
		t.Fatalf("search = %+v", res.Data)
	}
	fl, err := c.VectorStores.Files.List(ctx, vs.ID, openai.VectorStoreFileListParams{})
	if err != nil || len(fl.Data) != 2 {
		t.Fatalf("files list = %v, %v", fl, err)
	}
	if _, err := c.VectorStores.Files.Delete(ctx, vs.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	del, err := c.VectorStores.Delete(ctx, vs.ID)
	if err != nil || !del.Deleted {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.VectorStores.Get(ctx, vs.ID)
	apiError(t, err, 404)
	st := f.Stats()
	if st["vector_stores_created"] != 2 || st["vector_stores_deleted"] != 1 || st["vector_stores_alive"] != 1 || st["vector_store_searches"] != 1 {
		t.Fatalf("stats = %v", st)
	}
}

// TestSDK_FileBatch90 is the incidents' 90-overflow-file upload: SDK
// UploadAndPoll uploads concurrently, creates the batch and polls it while
// batch processing takes 30 s of scenario time (30 ms at 1000×). Two files
// match fail_files and end failed.
func TestSDK_FileBatch90(t *testing.T) {
	clk := clock.NewScaled(1000)
	f, c, _ := newFake(t, 0, fakeai.WithClock(clk), fakeai.WithFaults(fakeai.Faults{
		BatchDuration: fakeai.Duration(30 * time.Second),
		FailFiles:     []string{"*.bin"},
	}))
	ctx := testCtx(t)
	vs, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{Name: openai.String("overflow")})
	if err != nil {
		t.Fatal(err)
	}
	var files []openai.FileNewParams
	for i := range 90 {
		name := fmt.Sprintf("src/file%02d.go", i)
		if i%45 == 0 {
			name = fmt.Sprintf("blob%02d.bin", i)
		}
		files = append(files, openai.FileNewParams{File: openai.File(strings.NewReader(strings.Repeat("x", 100+i)), name, "text/plain"),
			Purpose: openai.FilePurposeAssistants})
	}
	batch, err := c.VectorStores.FileBatches.UploadAndPoll(ctx, vs.ID, files, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if batch.Status != "completed" || batch.FileCounts.Total != 90 || batch.FileCounts.Completed != 88 || batch.FileCounts.Failed != 2 {
		t.Fatalf("batch = %+v", batch)
	}
	failed, err := c.VectorStores.FileBatches.ListFiles(ctx, vs.ID, batch.ID, openai.VectorStoreFileBatchListFilesParams{Filter: "failed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed.Data) != 2 || failed.Data[0].LastError.Code == "" {
		t.Fatalf("failed files = %+v", failed.Data)
	}
	var n int
	iter := c.VectorStores.FileBatches.ListFilesAutoPaging(ctx, vs.ID, batch.ID, openai.VectorStoreFileBatchListFilesParams{Limit: openai.Int(25)})
	for iter.Next() {
		n++
	}
	if iter.Err() != nil || n != 90 {
		t.Fatalf("listed %d files: %v", n, iter.Err())
	}
	st := f.Stats()
	if st["files_uploaded"] != 90 || st["file_batches_created"] != 1 || st["polls"] < 1 {
		t.Fatalf("stats = %v", st)
	}
	t.Logf("batch polls: %d", st["polls"])
}

func TestSDK_ResponsesFileSearchAndChain(t *testing.T) {
	_, c, _ := newFake(t, 0)
	ctx := testCtx(t)
	a := upload(t, c, "pkg/a.go", "package a")
	b := upload(t, c, "pkg/b.go", "package b")
	vs, err := c.VectorStores.New(ctx, openai.VectorStoreNewParams{FileIDs: []string{a.ID, b.ID}})
	if err != nil {
		t.Fatal(err)
	}
	input := "Review this.\n<file path=\"main.go\">\npackage main\n</file>\n<file  lang=\"go\" path=\"x/y.go\">y</file>"
	r1, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model:        shared.ResponsesModel("o3"),
		Instructions: openai.String("be brief"),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(input)},
		Tools:        []responses.ToolUnionParam{responses.ToolParamOfFileSearch([]string{vs.ID})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Status != "completed" {
		t.Fatalf("status %s", r1.Status)
	}
	e := echoOf(t, r1.OutputText())
	want := fakeai.Echo{API: "responses", Model: "o3", InputChars: len(input) + 8, InputBytes: len(input) + 8,
		InstructionsChars: 8, Messages: 1, VectorStoreIDs: []string{vs.ID}, StoreFiles: 2,
		StoreFileNames: []string{"pkg/a.go", "pkg/b.go"}, InlinedFiles: []string{"main.go", "x/y.go"}, Tools: []string{}, LastUser: input[:80]}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Fatalf("echo\n got %v\nwant %v", e, want)
	}
	r2, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", PreviousResponseID: openai.String(r1.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and now?")}})
	if err != nil {
		t.Fatal(err)
	}
	r3, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", PreviousResponseID: openai.String(r2.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and then?")}})
	if err != nil {
		t.Fatal(err)
	}
	if e := echoOf(t, r3.OutputText()); e.PreviousResponseID != r2.ID || e.ChainDepth != 2 || r3.PreviousResponseID != r2.ID {
		t.Fatalf("chain echo = %+v", e)
	}
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", PreviousResponseID: openai.String("resp_unknown"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
	if ae := apiError(t, err, 404); ae.Param != "previous_response_id" || ae.Code != "previous_response_not_found" {
		t.Fatalf("error = %+v", ae)
	}
	if err := c.Responses.Delete(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Responses.Get(ctx, r1.ID, responses.ResponseGetParams{})
	apiError(t, err, 404)
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")},
		Tools: []responses.ToolUnionParam{responses.ToolParamOfFileSearch([]string{"vs_missing"})}})
	apiError(t, err, 404)
}

// TestSDK_BackgroundResponse: response_duration 340 s, the client polls
// every 10 s of scenario time, so it sees queued, then in_progress, and
// completed on the 35th poll.
func TestSDK_BackgroundResponse(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	f, c, _ := newFake(t, 0, fakeai.WithClock(clk), fakeai.WithFaults(fakeai.Faults{ResponseDuration: fakeai.Duration(340 * time.Second)}))
	ctx := testCtx(t)
	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3-pro", Background: openai.Bool(true),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("think hard")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "queued" || r.OutputText() != "" {
		t.Fatalf("created %s %q", r.Status, r.OutputText())
	}
	seen := map[responses.ResponseStatus]int{}
	polls := 0
	for r.Status == "queued" || r.Status == "in_progress" {
		clk.Advance(10 * time.Second)
		if r, err = c.Responses.Get(ctx, r.ID, responses.ResponseGetParams{}); err != nil {
			t.Fatal(err)
		}
		polls++
		seen[r.Status]++
	}
	if r.Status != "completed" || polls != 34 || seen["queued"] != 3 || seen["in_progress"] != 30 {
		t.Fatalf("status %s after %d polls, seen %v", r.Status, polls, seen)
	}
	if e := echoOf(t, r.OutputText()); e.Model != "o3-pro" || e.InputChars != 10 {
		t.Fatalf("echo %+v", e)
	}
	// Cancel: only while running.
	r2, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", Background: openai.Bool(true),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c.Responses.Cancel(ctx, r2.ID)
	if err != nil || cr.Status != "cancelled" {
		t.Fatalf("cancel: %v %v", cr, err)
	}
	if st := f.Stats(); st["responses_cancelled"] != 1 || st["responses_polled"] != 34 || st["responses_created"] != 2 {
		t.Fatalf("stats %v", st)
	}
}

func TestSDK_ResponsesFunctionTools(t *testing.T) {
	_, c, _ := newFake(t, 0)
	ctx := testCtx(t)
	tools := []responses.ToolUnionParam{
		responses.ToolParamOfFunction("search_task_files", map[string]any{"type": "object"}, false),
		responses.ToolParamOfFunction("unrelated", map[string]any{"type": "object"}, false),
	}
	r1, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", Tools: tools,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("where is the retry loop defined in this project")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Output) != 1 || r1.Output[0].Type != "function_call" || r1.Output[0].Name != "search_task_files" {
		t.Fatalf("output = %+v", r1.Output)
	}
	call := r1.Output[0].AsFunctionCall()
	if call.Arguments != `{"query":"where is the retry loop defined in this"}` {
		t.Fatalf("arguments %s", call.Arguments)
	}
	r2, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3", Tools: tools, PreviousResponseID: openai.String(r1.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{CallID: openai.String(call.CallID),
				Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String("found in retry.go")}}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	e := echoOf(t, r2.OutputText())
	if e.ToolResults != 1 || e.ToolResultChars != 17 || e.Messages != 1 || !slices.Equal(e.Tools, []string{"search_task_files", "unrelated"}) {
		t.Fatalf("echo %+v", e)
	}
}

func TestSDK_Chat(t *testing.T) {
	f, c, _ := newFake(t, 0)
	ctx := testCtx(t)
	user := "explain <file path=\"a/b.py\">print(1)</file>"
	cc, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gemini-2.5-pro",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("sys"), openai.UserMessage(user)}})
	if err != nil {
		t.Fatal(err)
	}
	e := echoOf(t, cc.Choices[0].Message.Content)
	if e.API != "chat" || e.Model != "gemini-2.5-pro" || e.Messages != 2 || e.InputChars != len(user)+3 || !slices.Equal(e.InlinedFiles, []string{"a/b.py"}) {
		t.Fatalf("echo %+v", e)
	}
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "search_project_history"}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "search_task_files"}),
	}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("what changed last week?")}
	cc, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "grok-4", Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	calls := cc.Choices[0].Message.ToolCalls
	if cc.Choices[0].FinishReason != "tool_calls" || len(calls) != 2 || calls[0].Function.Name != "search_task_files" {
		t.Fatalf("tool calls = %+v", cc.Choices[0])
	}
	msgs = append(msgs, cc.Choices[0].Message.ToParam())
	for _, tc := range calls {
		msgs = append(msgs, openai.ToolMessage("result of "+tc.Function.Name, tc.ID))
	}
	cc, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "grok-4", Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	e = echoOf(t, cc.Choices[0].Message.Content)
	if e.ToolResults != 2 || e.Messages != 4 || e.ToolResultChars != len("result of search_task_files")+len("result of search_project_history") {
		t.Fatalf("echo %+v", e)
	}
	// Streaming gives the same text.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "grok-4",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if e := echoOf(t, acc.Choices[0].Message.Content); e.InputChars != 2 || e.LastUser != "hi" {
		t.Fatalf("stream echo %+v", e)
	}
	// call_tools off: answer directly.
	f.SetFaults(fakeai.Faults{CallTools: new(false)})
	cc, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "grok-4", Messages: msgs[:1], Tools: tools})
	if err != nil || len(cc.Choices[0].Message.ToolCalls) != 0 {
		t.Fatalf("call_tools off: %+v %v", cc, err)
	}
	if st := f.Stats(); st["chat_completions"] != 5 || st["tool_calls_sent"] != 2 {
		t.Fatalf("stats %v", st)
	}
}
