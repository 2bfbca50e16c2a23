package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/memory"
	"github.com/secondbrain-dev/secondbrain/server/packing"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

func (s *Server) registerTools() {
	for _, m := range s.opt.Models {
		s.models[m.Tool] = m
		s.mcp.AddTool(chatTool(m), s.chatHandler(m))
	}
	s.mcp.AddTool(mcp.NewTool("list_models",
		mcp.WithDescription("List the model tools with their context windows, timeouts, API style, capabilities and whether their provider key is configured."),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.listModels)
	s.mcp.AddTool(mcp.NewTool("count_project_tokens",
		mcp.WithDescription("Estimate the tokens of files and directories (same ignore rules as context packing): total, per file, largest files and directories."),
		mcp.WithArray("items", mcp.Required(), mcp.Description("File or directory paths."), mcp.WithStringItems()),
		mcp.WithNumber("top_n", mcp.Description("How many largest files and directories to list (default 10).")),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.countTokens)
	s.mcp.AddTool(mcp.NewTool("list_sessions",
		mcp.WithDescription("List live conversation sessions of this project (tool, session_id, calls, last use, expiry)."),
		mcp.WithString("tool", mcp.Description("Only sessions of this tool.")),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.listSessions)
	s.mcp.AddTool(mcp.NewTool("describe_session",
		mcp.WithDescription("Show one session: model, previous response id or history length, the stable inline file list, vector stores."),
		mcp.WithString("session_id", mcp.Required()),
		mcp.WithString("tool", mcp.Description("The tool of the session; if omitted, every tool's session with this id is shown.")),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.describeSession)
	if s.opt.History != nil {
		s.mcp.AddTool(mcp.NewTool("search_project_history",
			mcp.WithDescription("Search this project's memory: summaries of past conversations and the git commit log. Separate several queries with ';'."),
			mcp.WithString("query", mcp.Required()),
			mcp.WithNumber("max_results", mcp.Description("Default 8.")),
			mcp.WithArray("store_types", mcp.Description(`"conversation", "commit" (default both).`), mcp.WithStringItems()),
			mcp.WithReadOnlyHintAnnotation(true),
		), s.searchHistory)
	}
	if s.opt.DeveloperMode && s.opt.DebugLogs != nil {
		s.mcp.AddTool(mcp.NewTool("search_mcp_debug_logs",
			mcp.WithDescription("Developer mode: run a LogsQL query against this server's own logs in VictoriaLogs."),
			mcp.WithString("query", mcp.Required(), mcp.Description("LogsQL, e.g. `_time:5m tool:chat_with_o3`.")),
			mcp.WithNumber("limit", mcp.Description("Max records (default 100).")),
			mcp.WithReadOnlyHintAnnotation(true),
		), s.searchDebugLogs)
	}
}

func chatTool(m Model) mcp.Tool {
	opts := []mcp.ToolOption{
		mcp.WithDescription(fmt.Sprintf("%s Context window %d tokens (85%% used for inline files, the rest goes to a searchable vector store); timeout %ds.",
			m.Description, m.Window, m.TimeoutSecs)),
		mcp.WithString("instructions", mcp.Required(), mcp.Description("What you want the model to do.")),
		mcp.WithString("output_format", mcp.Required(), mcp.Description("How the answer should be formatted.")),
		mcp.WithArray("context", mcp.Required(), mcp.WithStringItems(),
			mcp.Description("File and directory paths to include (may be empty). Directories are walked with .gitignore rules.")),
		mcp.WithString("session_id", mcp.Required(), mcp.Description("Conversation id; reuse it to continue.")),
		mcp.WithArray("priority_context", mcp.WithStringItems(), mcp.Description("Paths that must be inlined (never sent to the vector store).")),
		mcp.WithString("structured_output_schema", mcp.Description("A JSON Schema (as a string); the answer must be JSON valid against it.")),
		mcp.WithBoolean("disable_memory_search", mcp.Description("Do not offer the project-history search to the model.")),
	}
	if m.Temperature {
		opts = append(opts, mcp.WithNumber("temperature", mcp.Description("Sampling temperature (0–2).")))
	}
	if m.ReasoningEffort {
		opts = append(opts, mcp.WithString("reasoning_effort", mcp.Enum("low", "medium", "high")))
	}
	if m.WebSearch {
		opts = append(opts,
			mcp.WithString("search_mode", mcp.Enum("auto", "on", "off"), mcp.Description("Live web search (default off).")),
			mcp.WithObject("search_parameters", mcp.Description("xAI live-search parameters (object or JSON string).")),
			mcp.WithBoolean("return_citations", mcp.Description("Return the search citations (default true when searching).")),
		)
	}
	return mcp.NewTool(m.Tool, opts...)
}

// toolError is a tool-level error result: the client shows it to the model.
func toolError(format string, a ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf(format, a...))
}

// chatParams are a model tool's validated arguments.
type chatParams struct {
	instructions, outputFormat, sessionID string
	context, priority                     []string
	schemaText                            string
	schema                                *compiledSchema
	temperature                           *float64
	reasoningEffort                       string
	disableMemory                         bool
	searchMode                            string
	searchParams                          map[string]any
	returnCitations                       bool
}

func parseChatParams(m Model, a args) (*chatParams, error) {
	var p chatParams
	var err error
	var errs []error
	add := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	p.instructions, err = a.str("instructions", true)
	add(err)
	p.outputFormat, err = a.str("output_format", true)
	add(err)
	p.sessionID, err = a.str("session_id", true)
	add(err)
	if err == nil {
		add(checkSessionID(p.sessionID))
	}
	p.context, err = a.strs("context", true)
	add(err)
	p.priority, err = a.strs("priority_context", false)
	add(err)
	p.schemaText, err = a.str("structured_output_schema", false)
	add(err)
	if strings.TrimSpace(p.schemaText) != "" {
		p.schema, err = compileSchema(p.schemaText)
		add(err)
	}
	p.disableMemory, err = a.boolean("disable_memory_search", false)
	add(err)
	if m.Temperature {
		p.temperature, err = a.number("temperature")
		add(err)
		if p.temperature != nil && (*p.temperature < 0 || *p.temperature > 2) {
			add(fmt.Errorf("parameter \"temperature\" must be between 0 and 2, got %v", *p.temperature))
		}
	} else if a.has("temperature") {
		add(fmt.Errorf("%s does not support \"temperature\"", m.Tool))
	}
	if m.ReasoningEffort {
		p.reasoningEffort, err = a.str("reasoning_effort", false)
		add(err)
		add(oneOf("reasoning_effort", p.reasoningEffort, "low", "medium", "high"))
	}
	if m.WebSearch {
		p.searchMode, err = a.str("search_mode", false)
		add(err)
		add(oneOf("search_mode", p.searchMode, "auto", "on", "off"))
		p.searchParams, err = a.object("search_parameters")
		add(err)
		p.returnCitations, err = a.boolean("return_citations", true)
		add(err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &p, nil
}

func (s *Server) chatHandler(m Model) mcpserver.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		p, err := parseChatParams(m, args(req.GetArguments()))
		if err != nil {
			return toolError("invalid arguments for %s: %v", m.Tool, err), nil
		}
		log := s.log.With("tool", m.Tool, "session", p.sessionID, "model", m.Model)
		if meta, ok := ctx.Value(callCtxKey{}).(callMeta); ok && meta.requestID != "" {
			log = log.With("request_id", logID(json.RawMessage(meta.requestID))) // a string id without its JSON quotes
		}

		// The tool's own deadline, in scenario time.
		callCtx, cancel := clock.WithTimeoutCause(ctx, s.clk, m.Timeout, errToolTimeout)
		defer cancel()

		var token mcp.ProgressToken
		if req.Params.Meta != nil {
			token = req.Params.Meta.ProgressToken
		}
		st := &callStatus{phase: "starting"}
		progDone := make(chan struct{})
		progCtx, stopProgress := context.WithCancel(callCtx)
		go func() {
			defer close(progDone)
			s.progressLoop(progCtx, token, st.get)
		}()
		out, meta, err := s.runChat(callCtx, m, p, st, token, log)
		stopProgress()
		<-progDone

		// Set before the result is encoded: the metadata block is JSON text
		// made from meta, so a later assignment would never reach the client.
		meta.Timings.TotalMS = msSince(start, time.Now())
		if err != nil {
			switch {
			case ctx.Err() != nil:
				// The client cancelled: the transport writes nothing; return promptly.
				log.Info("call cancelled", "phase", st.get())
				return nil, ctx.Err()
			case errors.Is(context.Cause(callCtx), errToolTimeout):
				setOutcome(ctx, OutcomeTimeout)
				log.Warn("call timed out", "timeout", m.Timeout, "phase", st.get())
				return errorWithMeta(fmt.Sprintf("%s timed out after %s (the tool's limit) while %s", m.Tool, m.Timeout, st.get()), meta), nil
			}
			log.Warn("call failed", "err", err, "phase", st.get())
			return errorWithMeta(fmt.Sprintf("%s failed: %v", m.Tool, err), meta), nil
		}
		if out.isError {
			log.Warn("call answered with an invalid result", "reason", "structured_output_schema")
			return errorWithMeta(out.text, meta), nil
		}
		log.Info("call completed", "duration_ms", meta.Timings.TotalMS, "inlined", len(meta.Inlined), "overflow", len(meta.Overflow))
		return resultWithMeta(out.text, meta), nil
	}
}

var errToolTimeout = errors.New("tool timeout")

// callStatus is the phase a call is in, for progress messages and errors.
type callStatus struct {
	mu    sync.Mutex
	phase string
}

func (c *callStatus) set(p string) { c.mu.Lock(); c.phase = p; c.mu.Unlock() }
func (c *callStatus) get() string  { c.mu.Lock(); defer c.mu.Unlock(); return c.phase }

// Metadata is the structured account of a model call returned with every
// answer: nothing is dropped silently.
type Metadata struct {
	Tool               string `json:"tool"`
	Model              string `json:"model"`
	SessionID          string `json:"session_id"`
	Project            string `json:"project"`
	ResponseID         string `json:"response_id,omitempty"`
	PreviousResponseID string `json:"previous_response_id,omitempty"`
	// SessionReset says why the session started afresh during this call:
	// the provider no longer had its previous response or vector store.
	SessionReset     string         `json:"session_reset,omitempty"`
	Inlined          []string       `json:"inlined"`
	Unchanged        []string       `json:"unchanged"`
	Overflow         []string       `json:"overflow"`
	OverflowAttached bool           `json:"overflow_attached"`
	OverflowNote     string         `json:"overflow_note,omitempty"`
	VectorStoreIDs   []string       `json:"vector_store_ids,omitempty"`
	Uploaded         int            `json:"uploaded,omitempty"`
	Reused           int            `json:"reused,omitempty"`
	FailedUploads    []FailedUpload `json:"failed_uploads,omitempty"`
	Skipped          []SkippedFile  `json:"skipped"`
	InlineTokens     int            `json:"inline_tokens"`
	TotalTokens      int            `json:"total_tokens"`
	BudgetTokens     int            `json:"budget_tokens"`
	Polls            int            `json:"polls,omitempty"`
	ToolCalls        []string       `json:"tool_calls,omitempty"`
	Citations        []string       `json:"citations,omitempty"`
	SchemaValid      *bool          `json:"schema_valid,omitempty"`
	Timings          Timings        `json:"timings"`
}

// FailedUpload is an overflow file the vector store could not take.
type FailedUpload struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// SkippedFile is a file left out of the context, and why.
type SkippedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Timings of one call, in milliseconds.
type Timings struct {
	PackMS   float64 `json:"pack_ms"`
	AttachMS float64 `json:"attach_ms,omitempty"`
	ModelMS  float64 `json:"model_ms"`
	TotalMS  float64 `json:"total_ms"`
}

// MetadataPrefix starts the text block that carries [Metadata] as JSON (for
// clients that ignore structuredContent).
const MetadataPrefix = "secondbrain-metadata: "

func resultWithMeta(answer string, meta Metadata) *mcp.CallToolResult {
	b, _ := json.Marshal(meta) // plain data: cannot fail
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(answer), mcp.NewTextContent(MetadataPrefix + string(b))},
		StructuredContent: meta,
	}
}

func errorWithMeta(msg string, meta Metadata) *mcp.CallToolResult {
	r := resultWithMeta(msg, meta)
	r.IsError = true
	return r
}

// chatOutput is a model call's reply text; isError marks an answer that
// failed structured_output_schema validation (text then explains why). The
// handler wraps it with the metadata once the timings are final.
type chatOutput struct {
	text    string
	isError bool
}

// Resets a call can go through before giving up: one for an expired
// previous response, one for a vanished vector store.
const maxProviderResets = 2

func (s *Server) runChat(ctx context.Context, m Model, p *chatParams, st *callStatus, token mcp.ProgressToken, log *slog.Logger) (chatOutput, Metadata, error) {
	client := s.clients[m.Provider]
	if client == nil {
		return chatOutput{}, newMetadata(s, m, p), fmt.Errorf("provider %q is not configured", m.Provider)
	}
	key := session.Key{Project: s.project, Tool: m.Tool, SessionID: p.sessionID}
	st.set("loading the session")
	rec, found, err := s.opt.Sessions.Get(ctx, key)
	if err != nil {
		return chatOutput{}, newMetadata(s, m, p), err
	}
	if !found {
		rec = &session.Record{Key: key, Model: m.Model}
	}

	// The provider may have lost what the session points at (a stored
	// response expires after 30 days, a store is deleted out of band, the
	// in-process fake restarted): start afresh instead of failing, and say so.
	var resets []string
	var a *chatAttempt
	uploadedBefore, replaced := 0, ""
	for attempt := 0; ; attempt++ {
		a, err = s.chatOnce(ctx, m, p, client, rec, st, log)
		a.meta.SessionReset = strings.Join(resets, "; ")
		// Files uploaded by an earlier attempt are "reused" by this one: report
		// what the call as a whole did.
		a.meta.Uploaded += uploadedBefore
		a.meta.Reused = max(0, a.meta.Reused-uploadedBefore)
		if a.replaced != "" {
			replaced = a.replaced
		} else if replaced != "" && a.meta.OverflowNote == "" {
			a.meta.OverflowNote = replacedNote(replaced)
		}
		if err == nil || ctx.Err() != nil || attempt >= maxProviderResets {
			break
		}
		uploadedBefore = a.meta.Uploaded
		reason := s.resetForProvider(ctx, rec, a, err, log)
		if reason == "" {
			break
		}
		resets = append(resets, reason)
		log.Warn("provider lost session state; retrying afresh", "reason", reason)
	}
	meta := a.meta
	if err != nil {
		return chatOutput{}, meta, err
	}
	answer := a.resp.Text
	if p.schema != nil {
		valid := true
		if verr := p.schema.validateAnswer(answer); verr != nil {
			valid = false
			meta.SchemaValid = &valid
			return chatOutput{text: fmt.Sprintf("the answer is not valid against structured_output_schema: %v\n\nAnswer:\n%s", verr, answer), isError: true}, meta, nil
		}
		meta.SchemaValid = &valid
	}

	// Persist the session. Saved on a context that survives a cancel arriving
	// now: the model already answered, so the conversation moved on.
	st.set("saving the session")
	rec.Model = m.Model
	rec.Calls++
	if m.API == APIResponses {
		rec.PreviousResponseID = a.resp.ID
	} else {
		rec.History = append(rec.History, session.Message{Role: "user", Content: a.user}, session.Message{Role: "assistant", Content: answer})
	}
	stamps := a.packed.Stamps(a.prev)
	rec.Inline = make(map[string]session.Stamp, len(stamps))
	for k, v := range stamps {
		rec.Inline[k] = session.Stamp{Size: v.Size, ModTime: v.ModTime}
	}
	rec.VectorStoreIDs = a.storeIDs
	if len(a.packed.Overflow) > 0 {
		la := &session.Attach{Overflow: len(a.packed.Overflow), Uploaded: meta.Uploaded, Reused: meta.Reused, Note: meta.OverflowNote}
		for _, f := range meta.FailedUploads {
			la.Failed = append(la.Failed, session.FailedFile{Path: f.Path, Reason: f.Reason})
		}
		rec.LastAttach = la
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.opt.Sessions.Put(sctx, rec); err != nil {
		log.Error("cannot save session", "err", err)
		meta.OverflowNote = strings.TrimSpace(meta.OverflowNote + " (warning: the session could not be saved: " + err.Error() + ")")
	}
	if s.opt.Memory != nil {
		// Never waits: the writer queues it or drops and counts it.
		if !s.opt.Memory.Remember(memory.Exchange{Project: s.project, Tool: m.Tool, SessionID: p.sessionID, Model: m.Model,
			Question: p.instructions, Answer: answer, At: s.clk.Now()}) {
			log.Warn("memory writer queue full: exchange not remembered")
		}
	}
	return chatOutput{text: answer}, meta, nil
}

func newMetadata(s *Server, m Model, p *chatParams) Metadata {
	return Metadata{Tool: m.Tool, Model: m.Model, SessionID: p.sessionID, Project: s.project,
		Inlined: []string{}, Unchanged: []string{}, Overflow: []string{}, Skipped: []SkippedFile{}, BudgetTokens: m.budgetTokens()}
}

func replacedNote(storeID string) string {
	return "vector store " + storeID + " no longer existed at the provider: the overflow files were attached to a new store"
}

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
func (s *Server) resetForProvider(ctx context.Context, rec *session.Record, a *chatAttempt, err error, log *slog.Logger) string {
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
	f := s.opt.StoreChecker
	var gone []string
	for _, id := range ids {
		if !slices.Contains(a.storeIDs, id) {
			continue
		}
		missing := f == nil // without a forgetter, trust the provider's word
		if f != nil {
			var ferr error
			if missing, ferr = f.ForgetMissingStore(ctx, id); ferr != nil {
				log.Warn("cannot check vector store", "store", id, "err", ferr)
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

// chatOnce packs the context against rec, attaches the overflow and calls
// the model. It never changes rec.
func (s *Server) chatOnce(ctx context.Context, m Model, p *chatParams, client *provider.Client, rec *session.Record, st *callStatus, log *slog.Logger) (*chatAttempt, error) {
	a := &chatAttempt{meta: newMetadata(s, m, p), prev: map[string]packing.Stamp{}}
	meta := &a.meta
	meta.PreviousResponseID = rec.PreviousResponseID

	// Pack the context.
	st.set("packing context files")
	t0 := time.Now()
	for k, v := range rec.Inline {
		a.prev[k] = packing.Stamp{Size: v.Size, ModTime: v.ModTime}
	}
	var err error
	if len(p.context)+len(p.priority) > 0 {
		a.packed, err = packing.Pack(ctx, p.context, packing.Options{
			Roots: s.opt.Roots, MaxFileBytes: s.opt.MaxFileBytes, MaxTotalBytes: s.opt.MaxTotalBytes,
			BudgetTokens: m.budgetTokens(), Priority: p.priority, Previous: a.prev,
		})
		if err != nil {
			return a, fmt.Errorf("cannot pack the context: %w", err)
		}
	} else {
		a.packed = &packing.Result{}
	}
	packed := a.packed
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

	// Overflow to the vector store.
	storeIDs := rec.VectorStoreIDs
	if len(packed.Overflow) > 0 {
		if s.opt.Attacher == nil {
			meta.OverflowNote = "no vector store configured: overflow files were not attached; the model sees them only in the file tree"
		} else {
			st.set(fmt.Sprintf("attaching %d overflow files to the vector store", len(packed.Overflow)))
			t1 := time.Now()
			att, err := s.opt.Attacher.Attach(ctx, attachRequest(s.project, m.Tool, p.sessionID, packed.Overflow))
			meta.Timings.AttachMS = msSince(t1, time.Now())
			if err != nil {
				if ctx.Err() != nil {
					return a, ctx.Err()
				}
				meta.OverflowNote = "vector store unavailable: " + err.Error()
				log.Warn("cannot attach overflow files", "err", err, "files", len(packed.Overflow))
			} else {
				meta.OverflowAttached = len(att.VectorStoreIDs) > 0
				storeIDs = att.VectorStoreIDs
				meta.Uploaded, meta.Reused = att.Uploaded, att.Reused
				for _, f := range att.Failed {
					meta.FailedUploads = append(meta.FailedUploads, FailedUpload{Path: f.Path, Reason: f.Reason})
				}
				if att.ReplacedStore != "" {
					a.replaced = att.ReplacedStore
					meta.OverflowNote = replacedNote(att.ReplacedStore)
				}
			}
		}
	}
	a.storeIDs = storeIDs
	meta.VectorStoreIDs = storeIDs

	// Build the prompt.
	system := systemPrompt(m, p, len(storeIDs) > 0)
	a.user = userMessage(p, packed)

	var funcs []providerFunction
	if m.API == APIChat && len(storeIDs) > 0 && s.opt.Attacher != nil {
		funcs = append(funcs, s.searchTaskFilesFunc(storeIDs))
	}
	if s.opt.History != nil && !p.disableMemory {
		funcs = append(funcs, s.historyFunc())
	}

	st.set("waiting for " + m.Model)
	t2 := time.Now()
	pr := providerRequest{
		Model: m.Model, Instructions: system, Input: a.user, Temperature: p.temperature,
		ReasoningEffort: p.reasoningEffort, Functions: funcs,
	}
	if m.WebSearch && p.searchMode != "" && p.searchMode != "off" {
		sp := map[string]any{"mode": p.searchMode, "return_citations": p.returnCitations}
		for k, v := range p.searchParams {
			sp[k] = v
		}
		pr.Extra = map[string]any{"search_parameters": sp}
	}
	if h := s.opt.ModelCallHook; h != nil {
		end, err := h.BeginModelCall(ctx)
		if err != nil {
			return a, err
		}
		defer end()
	}
	if m.API == APIResponses {
		pr.PreviousResponseID = rec.PreviousResponseID
		pr.VectorStoreIDs = storeIDs
		pr.Background = m.Background
		pr.WebSearch = m.DeepResearch
		pr.OnPoll = func(status string, polls int) {
			st.set(fmt.Sprintf("waiting for %s (status %s, %d polls)", m.Model, status, polls))
		}
		a.resp, err = client.Respond(ctx, pr)
	} else {
		for _, h := range rec.History {
			pr.History = append(pr.History, providerMessage{Role: h.Role, Content: h.Content})
		}
		a.resp, err = client.Chat(ctx, pr)
	}
	meta.Timings.ModelMS = msSince(t2, time.Now())
	if a.resp != nil {
		meta.ResponseID, meta.Polls, meta.ToolCalls, meta.Citations = a.resp.ID, a.resp.Polls, a.resp.ToolCalls, a.resp.Citations
	}
	return a, err
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

// ---- utility tools ----

func (s *Server) listModels(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	type entry struct {
		Model
		KeyConfigured bool   `json:"key_configured"`
		BaseURL       string `json:"base_url"`
	}
	out := []entry{}
	for _, m := range s.opt.Models {
		e := entry{Model: m}
		if c := s.clients[m.Provider]; c != nil {
			e.KeyConfigured = c.Endpoint().APIKey != ""
			e.BaseURL = c.Endpoint().BaseURL
		}
		out = append(out, e)
	}
	return jsonResult(map[string]any{"models": out})
}

func (s *Server) countTokens(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	items, err := a.strs("items", true)
	if err != nil {
		return toolError("invalid arguments for count_project_tokens: %v", err), nil
	}
	topN, err := a.integer("top_n", 10)
	if err != nil {
		return toolError("invalid arguments for count_project_tokens: %v", err), nil
	}
	rep, err := packing.Count(ctx, items, packing.Options{Roots: s.opt.Roots, MaxFileBytes: s.opt.MaxFileBytes, MaxTotalBytes: s.opt.MaxTotalBytes}, topN)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError("cannot count tokens: %v", err), nil
	}
	return jsonResult(rep)
}

func (s *Server) listSessions(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	tool, _ := args(req.GetArguments()).str("tool", false)
	list, err := s.opt.Sessions.List(ctx, s.project)
	if err != nil {
		return toolError("%v", err), nil
	}
	if tool != "" {
		kept := list[:0]
		for _, sm := range list {
			if sm.Tool == tool {
				kept = append(kept, sm)
			}
		}
		list = kept
	}
	return jsonResult(map[string]any{"project": s.project, "ttl": s.opt.Sessions.TTL().String(), "sessions": list})
}

func (s *Server) describeSession(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	id, err := a.str("session_id", true)
	if err == nil {
		err = checkSessionID(id)
	}
	if err != nil {
		return toolError("invalid arguments for describe_session: %v", err), nil
	}
	tool, _ := a.str("tool", false)
	var tools []string
	if tool != "" {
		if _, ok := s.models[tool]; !ok {
			return toolError("unknown tool %q; see list_models", tool), nil
		}
		tools = []string{tool}
	} else {
		for _, m := range s.opt.Models {
			tools = append(tools, m.Tool)
		}
	}
	type view struct {
		session.Key
		Model              string          `json:"model"`
		Calls              int             `json:"calls"`
		PreviousResponseID string          `json:"previous_response_id,omitempty"`
		HistoryMessages    int             `json:"history_messages"`
		InlineFiles        []string        `json:"inline_files"`
		VectorStoreIDs     []string        `json:"vector_store_ids,omitempty"`
		LastAttach         *session.Attach `json:"last_attach,omitempty"`
		VectorStore        any             `json:"vector_store,omitempty"` // live store state, when the vector-store layer knows it
		CreatedAt          string          `json:"created_at"`
		UpdatedAt          string          `json:"updated_at"`
		ExpiresAt          string          `json:"expires_at"`
	}
	var found []view
	for _, t := range tools {
		rec, ok, err := s.opt.Sessions.Get(ctx, session.Key{Project: s.project, Tool: t, SessionID: id})
		if err != nil {
			return toolError("%v", err), nil
		}
		if !ok {
			continue
		}
		v := view{Key: rec.Key, Model: rec.Model, Calls: rec.Calls, PreviousResponseID: rec.PreviousResponseID,
			HistoryMessages: len(rec.History), VectorStoreIDs: rec.VectorStoreIDs, LastAttach: rec.LastAttach, InlineFiles: []string{},
			CreatedAt: rec.CreatedAt.UTC().Format(time.RFC3339), UpdatedAt: rec.UpdatedAt.UTC().Format(time.RFC3339),
			ExpiresAt: rec.UpdatedAt.Add(s.opt.Sessions.TTL()).UTC().Format(time.RFC3339)}
		for p := range rec.Inline {
			v.InlineFiles = append(v.InlineFiles, p)
		}
		if d := s.opt.SessionStores; d != nil {
			if info, found, err := d.DescribeSession(ctx, s.project, t, id); err == nil && found {
				v.VectorStore = info
			}
		}
		sort.Strings(v.InlineFiles)
		found = append(found, v)
	}
	if len(found) == 0 {
		return toolError("no live session %q in project %s (it may have expired after %s)", id, s.project, s.opt.Sessions.TTL()), nil
	}
	return jsonResult(map[string]any{"sessions": found})
}

func (s *Server) searchHistory(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	q, err := a.str("query", true)
	if err != nil {
		return toolError("invalid arguments for search_project_history: %v", err), nil
	}
	n, err := a.integer("max_results", DefaultSearchResults)
	if err != nil {
		return toolError("invalid arguments for search_project_history: %v", err), nil
	}
	types, err := a.strs("store_types", false)
	if err == nil {
		// An unknown type must not silently search nothing.
		types, err = memory.NormalizeStoreTypes(types)
	}
	if err != nil {
		return toolError("invalid arguments for search_project_history: %v", err), nil
	}
	if r := s.opt.HistoryReports; r != nil {
		res, err := r.SearchHistoryReport(ctx, s.project, splitQueries(q), n, types)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return toolError("cannot search project history: %v", err), nil
		}
		out := map[string]any{"results": nonNil(res.Hits)}
		if len(res.MissingStores) > 0 {
			// Not an error: the other stores were searched.
			out["missing_stores"] = res.MissingStores
			out["note"] = "these memory stores no longer exist at the provider and were skipped (forgotten; new memories go to a new store)"
		}
		return jsonResult(out)
	}
	hits, err := s.opt.History.SearchHistory(ctx, s.project, splitQueries(q), n, types)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError("cannot search project history: %v", err), nil
	}
	return jsonResult(map[string]any{"results": nonNil(hits)})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) searchDebugLogs(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	q, err := a.str("query", true)
	if err != nil {
		return toolError("invalid arguments for search_mcp_debug_logs: %v", err), nil
	}
	n, err := a.integer("limit", 100)
	if err != nil {
		return toolError("invalid arguments for search_mcp_debug_logs: %v", err), nil
	}
	recs, err := s.opt.DebugLogs(ctx, q, n)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return toolError("cannot query the debug logs: %v", err), nil
	}
	return jsonResult(map[string]any{"records": recs})
}

func splitQueries(q string) []string {
	var out []string
	for _, part := range strings.Split(q, ";") {
		if t := strings.TrimSpace(part); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func jsonResult(v any) (*mcp.CallToolResult, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return toolError("cannot encode result: %v", err), nil
	}
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(string(b))}, StructuredContent: v}, nil
}
