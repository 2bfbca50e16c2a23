package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/secondbrain-dev/secondbrain/server/clock"
	"github.com/secondbrain-dev/secondbrain/server/memory"
	"github.com/secondbrain-dev/secondbrain/server/provider"
	"github.com/secondbrain-dev/secondbrain/server/session"
)

// chatHandler serves the chat tool of model m: it parses the arguments,
// runs the call (chatCall) under the tool's deadline on the server's clock
// while progress notifications go out, and answers with the reply and its
// Metadata — or with a tool error that says what failed and in which
// phase. A call the client cancelled gets no answer.
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
		c := &chatCall{s: s, m: m, p: p, st: st, log: log, client: s.clients[m.Provider]}
		out, meta, err := c.run(callCtx)
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

// chatCall is one call of a chat tool: what every step of it needs.
type chatCall struct {
	s      *Server
	m      Model
	p      *chatParams
	st     *callStatus
	log    *slog.Logger
	client *provider.Client // nil: the model's provider is not configured
	images []string         // the call's images as data URLs
}

// run loads the session, makes the call (starting the session afresh, at
// most maxProviderResets times, when the provider lost what it points at),
// checks the answer against the schema asked for, and saves the session.
func (c *chatCall) run(ctx context.Context) (chatOutput, Metadata, error) {
	s, m, p := c.s, c.m, c.p
	if c.client == nil {
		return chatOutput{}, newMetadata(s, m, p), fmt.Errorf("provider %q is not configured", m.Provider)
	}
	if len(p.images) > 0 {
		c.st.set("reading images")
		var err error
		if c.images, err = loadImages(ctx, s.opt.Roots, p.images); err != nil {
			return chatOutput{}, newMetadata(s, m, p), err
		}
	}
	key := session.Key{Project: s.project, Tool: m.Tool, SessionID: p.sessionID}
	c.st.set("loading the session")
	rec, found, err := s.opt.Sessions.Get(ctx, key)
	if err != nil {
		return chatOutput{}, newMetadata(s, m, p), err
	}
	if !found {
		rec = &session.Record{Key: key, Model: m.Model}
	}
	a, err := c.attempts(ctx, rec)
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
	c.save(ctx, rec, a, &meta)
	return chatOutput{text: answer}, meta, nil
}

// attempts makes the call, starting the session afresh when the provider
// has lost what it points at (a stored response expires after 30 days, a
// store is deleted out of band, the in-process fake restarted) instead of
// failing, and says so in the metadata.
func (c *chatCall) attempts(ctx context.Context, rec *session.Record) (*chatAttempt, error) {
	var resets []string
	uploadedBefore, replaced := 0, ""
	for attempt := 0; ; attempt++ {
		a, err := c.once(ctx, rec)
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
			return a, err
		}
		uploadedBefore = a.meta.Uploaded
		reason := c.resetForProvider(ctx, rec, a, err)
		if reason == "" {
			return a, err
		}
		resets = append(resets, reason)
		c.log.Warn("provider lost session state; retrying afresh", "reason", reason)
	}
}

// save records the exchange in the session and in project memory. The
// session is saved on a context that survives a cancel arriving now: the
// model already answered, so the conversation moved on. A session that
// cannot be saved is noted in meta.
func (c *chatCall) save(ctx context.Context, rec *session.Record, a *chatAttempt, meta *Metadata) {
	s, m, p := c.s, c.m, c.p
	answer := a.resp.Text
	c.st.set("saving the session")
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
		c.log.Error("cannot save session", "err", err)
		meta.OverflowNote = strings.TrimSpace(meta.OverflowNote + " (warning: the session could not be saved: " + err.Error() + ")")
	}
	if s.opt.Memory != nil {
		// Never waits: the writer queues it or drops and counts it.
		if !s.opt.Memory.Remember(memory.Exchange{Project: s.project, Tool: m.Tool, SessionID: p.sessionID, Model: m.Model,
			Question: p.instructions, Answer: answer, At: s.clk.Now()}) {
			c.log.Warn("memory writer queue full: exchange not remembered")
		}
	}
}

func replacedNote(storeID string) string {
	return "vector store " + storeID + " no longer existed at the provider: the overflow files were attached to a new store"
}
