package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secondbrain-dev/secondbrain/server/jobs"
	"github.com/secondbrain-dev/secondbrain/server/localindex"
	"github.com/secondbrain-dev/secondbrain/server/packing"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

// chatAttempt is one pass of pack → attach → model call.
type chatAttempt struct {
	replaced string // the session store Attach found gone and replaced
	meta     Metadata
	packed   *packing.Result
	prev     map[string]packing.Stamp
	storeIDs []string
	user     string
	resp     *providerResponse
}

// resetForProvider changes rec so that the next attempt no longer depends on
// provider state that err says is gone, and returns why; "" means err is
// not such a loss (or nothing could be changed) and the call fails with it.
func (c *chatCall) resetForProvider(ctx context.Context, rec *session.Record, a *chatAttempt, err error) string {
	if rec.PreviousResponseID != "" && provider.PreviousResponseGone(err) {
		// The model no longer sees the files sent earlier in the conversation:
		// clear the stable inline list so every file is sent again.
		rec.PreviousResponseID = ""
		rec.Inline = nil
		return "previous response expired at the provider: the conversation started afresh and every file was sent again"
	}
	ids, ok := provider.VectorStoreGone(err)
	if !ok || len(a.storeIDs) == 0 {
		return ""
	}
	if len(ids) == 0 {
		ids = a.storeIDs // the message named none: check each store sent
	}
	f := c.s.opt.StoreChecker
	var gone []string
	for _, id := range ids {
		if !slices.Contains(a.storeIDs, id) {
			continue
		}
		missing := f == nil // without a forgetter, trust the provider's word
		if f != nil {
			var ferr error
			if missing, ferr = f.ForgetMissingStore(ctx, id); ferr != nil {
				c.log.Warn("cannot check vector store", "store", id, "err", ferr)
			}
		}
		if missing {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	rec.VectorStoreIDs = slices.DeleteFunc(slices.Clone(rec.VectorStoreIDs), func(id string) bool { return slices.Contains(gone, id) })
	return fmt.Sprintf("vector store %s no longer exists at the provider: its records were dropped; this call's overflow files were attached to a new store, files attached only in earlier calls are no longer searchable",
		strings.Join(gone, ", "))
}

// once packs the context against rec, attaches the overflow and calls
// the model. It never changes rec.
func (c *chatCall) once(ctx context.Context, rec *session.Record) (*chatAttempt, error) {
	a := &chatAttempt{meta: newMetadata(c.s, c.m, c.p), prev: map[string]packing.Stamp{}}
	a.meta.PreviousResponseID = rec.PreviousResponseID
	if err := c.pack(ctx, rec, a); err != nil {
		return a, err
	}
	if err := c.attach(ctx, rec, a); err != nil {
		return a, err
	}
	return a, c.ask(ctx, rec, a)
}

// pack packs the call's context into a, against the files rec says the
// model has seen, and accounts for every file in a.meta.
func (c *chatCall) pack(ctx context.Context, rec *session.Record, a *chatAttempt) error {
	c.st.set("packing context files")
	t0 := time.Now()
	for k, v := range rec.Inline {
		a.prev[k] = packing.Stamp{Size: v.Size, ModTime: v.ModTime}
	}
	a.packed = &packing.Result{}
	if len(c.p.context)+len(c.p.priority) > 0 {
		o := c.s.opt
		packed, err := packing.Pack(ctx, c.p.context, packing.Options{
			Roots: o.Roots, MaxFileBytes: o.MaxFileBytes, MaxTotalBytes: o.MaxTotalBytes,
			BudgetTokens: c.m.budgetTokens(), Priority: c.p.priority, Previous: a.prev,
		})
		if err != nil {
			return fmt.Errorf("cannot pack the context: %w", err)
		}
		a.packed = packed
	}
	meta, packed := &a.meta, a.packed
	meta.Timings.PackMS = msSince(t0, time.Now())
	for _, f := range packed.Inline {
		meta.Inlined = append(meta.Inlined, f.Rel)
	}
	for _, f := range packed.Unchanged {
		meta.Unchanged = append(meta.Unchanged, f.Rel)
	}
	for _, f := range packed.Overflow {
		meta.Overflow = append(meta.Overflow, f.Rel)
	}
	for _, sk := range packed.Skipped {
		meta.Skipped = append(meta.Skipped, SkippedFile{Path: sk.Path, Reason: sk.Reason})
	}
	meta.InlineTokens, meta.TotalTokens = packed.InlineTokens, packed.TotalTokens
	return nil
}

// attach sends the overflow files to the vector store and sets the stores
// the model will search (the session's, when nothing overflowed). A store
// that cannot take them is noted, not fatal; only the call's end is.
func (c *chatCall) attach(ctx context.Context, rec *session.Record, a *chatAttempt) error {
	meta, overflow := &a.meta, a.packed.Overflow
	a.storeIDs = rec.VectorStoreIDs
	defer func() { meta.VectorStoreIDs = a.storeIDs }()
	if len(overflow) == 0 {
		return nil
	}
	if c.s.opt.Attacher == nil {
		meta.OverflowNote = "no vector store configured: overflow files were not attached; the model sees them only in the file tree"
		return nil
	}
	c.st.set(fmt.Sprintf("attaching %d overflow files to the vector store", len(overflow)))
	t1 := time.Now()
	att, err := c.s.opt.Attacher.Attach(ctx, attachRequest(c.s.project, c.m.Tool, c.p.sessionID, overflow))
	meta.Timings.AttachMS = msSince(t1, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		meta.OverflowNote = "vector store unavailable: " + err.Error()
		c.log.Warn("cannot attach overflow files", "err", err, "files", len(overflow))
		return nil
	}
	meta.OverflowAttached = len(att.VectorStoreIDs) > 0
	a.storeIDs = att.VectorStoreIDs
	meta.Uploaded, meta.Reused = att.Uploaded, att.Reused
	for _, f := range att.Failed {
		meta.FailedUploads = append(meta.FailedUploads, FailedUpload{Path: f.Path, Reason: f.Reason})
	}
	if att.ReplacedStore != "" {
		a.replaced = att.ReplacedStore
		meta.OverflowNote = replacedNote(att.ReplacedStore)
	}
	return nil
}

// ask builds the prompt and calls the model, through the model-call hook
// when one is set.
func (c *chatCall) ask(ctx context.Context, rec *session.Record, a *chatAttempt) error {
	m, p, st := c.m, c.p, c.st
	a.user = userMessage(p, a.packed)
	pr := c.request(ctx, rec, a)
	st.set("waiting for " + m.Model)
	t2 := time.Now()
	if h := c.s.opt.ModelCallHook; h != nil {
		end, err := h.BeginModelCall(ctx)
		if err != nil {
			return err
		}
		defer end()
	}
	var err error
	if m.API == APIResponses {
		pr.OnPoll = func(status string, polls int) {
			st.set(fmt.Sprintf("waiting for %s (status %s, %d polls)", m.Model, status, polls))
		}
		a.resp, err = c.client.Respond(ctx, pr)
	} else {
		a.resp, err = c.client.Chat(ctx, pr)
	}
	meta := &a.meta
	meta.Timings.ModelMS = msSince(t2, time.Now())
	if a.resp != nil {
		meta.ResponseID, meta.Polls, meta.ToolCalls, meta.Citations = a.resp.ID, a.resp.Polls, a.resp.ToolCalls, a.resp.Citations
	}
	return err
}

// request is the provider request of an attempt: the prompt, the functions
// the model may call, search settings, and the conversation so far (a
// previous response id for the Responses API, the history otherwise).
func (c *chatCall) request(ctx context.Context, rec *session.Record, a *chatAttempt) providerRequest {
	s, m, p := c.s, c.m, c.p
	// Overflow is searched by the provider's file_search where the model
	// has it (the Responses API over the provider's own stores), else by
	// our search_task_files function (chat models; the local index).
	var providerStores, searched []string
	if m.API == APIChat {
		searched = a.storeIDs
	} else {
		providerStores, searched = localindex.Split(a.storeIDs)
	}
	var funcs []providerFunction
	if len(searched) > 0 && s.opt.Attacher != nil {
		funcs = append(funcs, s.searchTaskFilesFunc(searched))
	}
	if s.opt.History != nil && !p.disableMemory {
		funcs = append(funcs, s.historyFunc())
	}
	pr := providerRequest{
		Model: m.Model, Instructions: systemPrompt(m, p, len(a.storeIDs) > 0), Input: a.user, Images: c.images,
		Temperature: p.temperature, ReasoningEffort: p.reasoningEffort, Functions: funcs,
	}
	if m.WebSearch && p.searchMode != "" && p.searchMode != "off" {
		sp := map[string]any{"mode": p.searchMode, "return_citations": p.returnCitations}
		for k, v := range p.searchParams {
			sp[k] = v
		}
		pr.Extra = map[string]any{"search_parameters": sp}
	}
	if run, ok := ctx.Value(jobRunKey{}).(jobs.Run); ok && m.Background {
		pr.Resume, pr.OnCreated = run.Resume, run.Created
	}
	if m.API == APIResponses {
		pr.PreviousResponseID = rec.PreviousResponseID
		pr.VectorStoreIDs = providerStores
		pr.Background = m.Background
		pr.WebSearch = m.DeepResearch
		return pr
	}
	for _, h := range rec.History {
		pr.History = append(pr.History, providerMessage{Role: h.Role, Content: h.Content})
	}
	return pr
}

func systemPrompt(m Model, p *chatParams, hasStore bool) string {
	var b strings.Builder
	b.WriteString("You are a senior engineer giving a second opinion to another AI assistant working in a software project. ")
	b.WriteString("The user message holds the task, the required output format, a tree of the project files (marked [inline], [unchanged] = sent earlier in this conversation, [attached] = in the searchable vector store, [skipped]) and the inlined files, each in a 'file' element whose path attribute is relative to the project root.\n")
	if hasStore {
		if m.API == APIResponses {
			b.WriteString("Files marked [attached] are searchable with the file_search tool.\n")
		} else {
			b.WriteString("Files marked [attached] are searchable with the search_task_files function.\n")
		}
	}
	if p.schema != nil {
		b.WriteString("Answer with JSON only (no prose, no code fences), valid against this JSON Schema:\n")
		b.WriteString(p.schemaText)
		b.WriteString("\n")
	}
	return b.String()
}

func userMessage(p *chatParams, packed *packing.Result) string {
	var b strings.Builder
	b.WriteString("<task>\n")
	b.WriteString(p.instructions)
	b.WriteString("\n</task>\n<output_format>\n")
	b.WriteString(p.outputFormat)
	b.WriteString("\n</output_format>\n")
	if packed.Tree != "" {
		b.WriteString("<file_tree>\n")
		b.WriteString(packed.Tree)
		b.WriteString("\n</file_tree>\n")
	}
	if len(packed.Inline) > 0 {
		b.WriteString(packing.FormatInline(packed.Inline))
	}
	return b.String()
}
