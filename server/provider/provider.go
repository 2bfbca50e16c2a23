package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/secondbrain-dev/secondbrain/server/clock"
)

// Poll defaults for background responses (scenario time).
const (
	DefaultPollFirst  = 3 * time.Second
	DefaultPollFactor = 1.8
	DefaultPollMax    = 30 * time.Second
	// cancelTimeout bounds the provider-side cancel of an abandoned background response.
	cancelTimeout = 10 * time.Second
	// pollRequestTimeout bounds one status GET.
	pollRequestTimeout = 60 * time.Second
	// DefaultMaxToolRounds bounds the function-calling loop.
	DefaultMaxToolRounds = 5
)

// ErrNoAPIKey is returned when the endpoint has no key configured.
var ErrNoAPIKey = errors.New("no API key configured")

// Endpoint is one provider's base URL and key.
type Endpoint struct {
	Name    string // "openai", "gemini", "xai"
	BaseURL string // OpenAI-compatible base, e.g. https://api.openai.com/v1
	APIKey  string
	KeyEnv  string // the variable that sets APIKey, named in the missing-key error
}

// PollPolicy is the background-response polling backoff.
type PollPolicy struct {
	First  time.Duration // 0: DefaultPollFirst
	Factor float64       // <= 1: DefaultPollFactor
	Max    time.Duration // 0: DefaultPollMax
}

// Options configures [New].
type Options struct {
	Clock      clock.Clock  // nil: clock.Real; polling waits on it
	Logger     *slog.Logger // nil: discard
	HTTPClient *http.Client // nil: a client with dial/TLS timeouts
	MaxRetries int          // SDK retries (429/5xx/connection); 0 means 2, < 0 means none
	Poll       PollPolicy
}

// Client calls one endpoint. Safe for concurrent use; call Close when done.
type Client struct {
	ep   Endpoint
	oa   openai.Client
	clk  clock.Clock
	log  *slog.Logger
	poll PollPolicy

	bg sync.WaitGroup // provider-side cancels of abandoned background responses
}

// Idle connection pool bounds of [DefaultHTTPClient]. Bursts (an overflow
// call uploads up to 10 batches at once, each with several files) may open
// more connections; only this many are kept idle afterwards, and those close
// after DefaultIdleConnTimeout. QA: after an 81-file upload the server held
// ~52 idle sockets to the provider, which a harness counting file
// descriptors cannot tell from a leak.
const (
	DefaultMaxIdleConnsPerHost = 32 // an overflow call's 16 uploads (vectorstore.DefaultMaxUploads) + 10 batch polls, reused, not redialled
	DefaultMaxIdleConns        = 64
	DefaultIdleConnTimeout     = 90 * time.Second
)

// DefaultHTTPClient has connection-level timeouts and a bounded idle pool;
// whole-request deadlines come from each call's context (model calls may
// legitimately take minutes).
func DefaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          DefaultMaxIdleConns,
		MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
		IdleConnTimeout:       DefaultIdleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}}
}

// New returns a client for ep.
func New(ep Endpoint, opt Options) *Client {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = DefaultHTTPClient()
	}
	if opt.Poll.First <= 0 {
		opt.Poll.First = DefaultPollFirst
	}
	if opt.Poll.Factor <= 1 {
		opt.Poll.Factor = DefaultPollFactor
	}
	if opt.Poll.Max <= 0 {
		opt.Poll.Max = DefaultPollMax
	}
	retries := opt.MaxRetries
	if retries == 0 {
		retries = 2
	} else if retries < 0 {
		retries = 0
	}
	// Base URL and key are always set explicitly, so the SDK's own
	// OPENAI_* environment defaults never leak to another provider.
	oa := openai.NewClient(
		option.WithBaseURL(strings.TrimRight(ep.BaseURL, "/")+"/"),
		option.WithAPIKey(ep.APIKey),
		option.WithHTTPClient(opt.HTTPClient),
		option.WithMaxRetries(retries),
		option.WithMiddleware(TraceMiddleware),
	)
	return &Client{ep: ep, oa: oa, clk: opt.Clock, log: opt.Logger.With("component", "provider", "provider", ep.Name), poll: opt.Poll}
}

// Close waits for provider-side cancels still running.
func (c *Client) Close() { c.bg.Wait() }

// Endpoint returns the endpoint (the key included: never log it).
func (c *Client) Endpoint() Endpoint { return c.ep }

// Message is one prior chat turn.
type Message struct {
	Role    string // "user" or "assistant"
	Content string
}

// Function is a function tool the model may call; Run executes it.
type Function struct {
	Name        string
	Description string
	Parameters  map[string]any
	Run         func(ctx context.Context, arguments string) (string, error)
}

// Request is one model call.
type Request struct {
	Model        string
	Instructions string // system prompt / Responses instructions
	Input        string // the user message
	// Images go with the user message, each an image URL or data URL.
	Images             []string
	PreviousResponseID string // Responses API continuation
	History            []Message
	Temperature        *float64
	ReasoningEffort    string
	VectorStoreIDs     []string // Responses API: file_search over these
	Background         bool     // Responses API: create in background and poll
	WebSearch          bool     // Responses API: offer web_search_preview (deep-research models require a data source)
	Functions          []Function
	MaxToolRounds      int            // 0: DefaultMaxToolRounds
	Extra              map[string]any // extra top-level JSON fields (Grok search_parameters…)
	// OnPoll is called after each status poll of a background response.
	OnPoll func(status string, polls int)
	// Resume, a background response's id, is polled in place of creating
	// the call's first response (a job picking up after a restart); when
	// the provider no longer has it, a new one is created.
	Resume string
	// OnCreated is called with the id of each background response created.
	OnCreated func(id string)
}

// Response is the model's answer.
type Response struct {
	ID         string   `json:"id,omitempty"`
	Text       string   `json:"-"`
	Status     string   `json:"status,omitempty"`
	Polls      int      `json:"polls,omitempty"`
	ToolRounds int      `json:"tool_rounds,omitempty"`
	ToolCalls  []string `json:"tool_calls,omitempty"`
	Citations  []string `json:"citations,omitempty"`
}

func (c *Client) checkKey() error {
	if c.ep.APIKey == "" {
		return fmt.Errorf("cannot call %s: %w: set %s (or run with --provider fake)", c.ep.Name, ErrNoAPIKey, c.ep.KeyEnv)
	}
	return nil
}

func (c *Client) extraOpts(extra map[string]any) []option.RequestOption {
	var opts []option.RequestOption
	for k, v := range extra {
		opts = append(opts, option.WithJSONSet(k, v))
	}
	return opts
}

// Respond calls the Responses API, running function calls in a bounded loop.
func (c *Client) Respond(ctx context.Context, req Request) (*Response, error) {
	if err := c.checkKey(); err != nil {
		return nil, err
	}
	p := responses.ResponseNewParams{
		Model:        shared.ResponsesModel(req.Model),
		Instructions: param.NewOpt(req.Instructions),
		Input:        responsesInput(req),
		Store:        param.NewOpt(true), // continuation needs the stored response
	}
	if req.PreviousResponseID != "" {
		p.PreviousResponseID = param.NewOpt(req.PreviousResponseID)
	}
	if req.Temperature != nil {
		p.Temperature = param.NewOpt(*req.Temperature)
	}
	if req.ReasoningEffort != "" {
		p.Reasoning = shared.ReasoningParam{Effort: shared.ReasoningEffort(req.ReasoningEffort)}
	}
	if req.Background {
		p.Background = param.NewOpt(true)
	}
	if len(req.VectorStoreIDs) > 0 {
		p.Tools = append(p.Tools, responses.ToolParamOfFileSearch(req.VectorStoreIDs))
	}
	if req.WebSearch {
		p.Tools = append(p.Tools, responses.ToolParamOfWebSearchPreview(responses.WebSearchPreviewToolTypeWebSearchPreview))
	}
	funcs := map[string]Function{}
	for _, f := range req.Functions {
		p.Tools = append(p.Tools, responses.ToolParamOfFunction(f.Name, f.Parameters, false))
		funcs[f.Name] = f
	}
	maxRounds := req.MaxToolRounds
	if maxRounds <= 0 {
		maxRounds = DefaultMaxToolRounds
	}
	out := &Response{}
	for round := 0; ; round++ {
		resp, err := c.create(ctx, p, req, out)
		if err != nil {
			return out, err
		}
		out.ID, out.Status = resp.ID, string(resp.Status)
		var items responses.ResponseInputParam
		for _, it := range resp.Output {
			if it.Type != "function_call" {
				continue
			}
			out.ToolCalls = append(out.ToolCalls, it.Name)
			result := runFunction(ctx, funcs, it.Name, it.Arguments.OfString)
			item := responses.ResponseInputItemParamOfFunctionCallOutput(result)
			item.OfFunctionCallOutput.CallID = param.NewOpt(it.CallID)
			items = append(items, item)
		}
		if len(items) == 0 || round >= maxRounds {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			out.Text = resp.OutputText()
			if resp.Status != responses.ResponseStatusCompleted {
				return out, fmt.Errorf("response %s ended with status %q%s", resp.ID, resp.Status, responseProblem(resp))
			}
			return out, nil
		}
		out.ToolRounds++
		req.Resume = "" // only the first response can be resumed
		p.PreviousResponseID = param.NewOpt(resp.ID)
		p.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: items}
		p.Instructions = param.NewOpt(req.Instructions)
	}
}

func responseProblem(r *responses.Response) string {
	if r.Error.Message != "" {
		return ": " + r.Error.Message
	}
	if r.IncompleteDetails.Reason != "" {
		return ": incomplete (" + string(r.IncompleteDetails.Reason) + ")"
	}
	return ""
}

// create makes one response and, in background mode, polls until it ends.
func (c *Client) create(ctx context.Context, p responses.ResponseNewParams, req Request, out *Response) (*responses.Response, error) {
	resp, err := c.resumeOrNew(ctx, p, req)
	if err != nil {
		return nil, err
	}
	if !req.Background {
		return resp, nil
	}
	wait := c.poll.First
	for resp.Status == responses.ResponseStatusQueued || resp.Status == responses.ResponseStatusInProgress {
		if err := clock.Sleep(ctx, c.clk, wait); err != nil {
			c.cancelAtProvider(resp.ID)
			return nil, err
		}
		wait = min(time.Duration(float64(wait)*c.poll.Factor), c.poll.Max)
		pctx, cancel := context.WithTimeout(ctx, pollRequestTimeout)
		next, err := c.oa.Responses.Get(pctx, resp.ID, responses.ResponseGetParams{})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				c.cancelAtProvider(resp.ID)
				return nil, ctx.Err()
			}
			c.log.Warn("cannot poll background response; retrying", "response_id", resp.ID, "err", err)
			continue
		}
		resp = next
		out.Polls++
		if req.OnPoll != nil {
			req.OnPoll(string(resp.Status), out.Polls)
		}
	}
	return resp, nil
}

// resumeOrNew fetches the background response req.Resume names, or creates
// the response.
func (c *Client) resumeOrNew(ctx context.Context, p responses.ResponseNewParams, req Request) (*responses.Response, error) {
	if req.Resume != "" && req.Background {
		resp, err := c.oa.Responses.Get(ctx, req.Resume, responses.ResponseGetParams{})
		if err == nil {
			c.log.Info("resumed background response", "response_id", resp.ID, "status", resp.Status)
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Warn("cannot resume background response; creating a new one", "response_id", req.Resume, "err", err)
	}
	resp, err := c.oa.Responses.New(ctx, p, c.extraOpts(req.Extra)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create %s response: %w", req.Model, err)
	}
	if req.Background && req.OnCreated != nil {
		req.OnCreated(resp.ID)
	}
	return resp, nil
}

// cancelAtProvider cancels an abandoned background response on a fresh
// context (the call's own is already done), off the caller's goroutine.
func (c *Client) cancelAtProvider(id string) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
		defer cancel()
		if _, err := c.oa.Responses.Cancel(ctx, id); err != nil {
			c.log.Warn("cannot cancel background response at the provider", "response_id", id, "err", err)
			return
		}
		c.log.Info("cancelled background response at the provider", "response_id", id)
	}()
}

// responsesInput is the user message: a string, or with images a message
// of input_text and input_image parts.
func responsesInput(req Request) responses.ResponseNewParamsInputUnion {
	if len(req.Images) == 0 {
		return responses.ResponseNewParamsInputUnion{OfString: param.NewOpt(req.Input)}
	}
	parts := responses.ResponseInputMessageContentListParam{responses.ResponseInputContentParamOfInputText(req.Input)}
	for _, url := range req.Images {
		parts = append(parts, responses.ResponseInputContentUnionParam{OfInputImage: &responses.ResponseInputImageParam{
			Detail: responses.ResponseInputImageDetailAuto, ImageURL: param.NewOpt(url)}})
	}
	return responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage(parts, responses.EasyInputMessageRoleUser)}}
}

// chatUserMessage is the user message: text, or with images text and
// image_url parts.
func chatUserMessage(req Request) openai.ChatCompletionMessageParamUnion {
	if len(req.Images) == 0 {
		return openai.UserMessage(req.Input)
	}
	parts := []openai.ChatCompletionContentPartUnionParam{openai.TextContentPart(req.Input)}
	for _, url := range req.Images {
		parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: url}))
	}
	return openai.UserMessage(parts)
}

func runFunction(ctx context.Context, funcs map[string]Function, name, args string) string {
	f, ok := funcs[name]
	if !ok {
		return fmt.Sprintf("error: no function named %q", name)
	}
	res, err := f.Run(ctx, args)
	if err != nil {
		return "error: " + err.Error()
	}
	return res
}

// Chat calls chat completions, running function calls in a bounded loop.
func (c *Client) Chat(ctx context.Context, req Request) (*Response, error) {
	if err := c.checkKey(); err != nil {
		return nil, err
	}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(req.Instructions)}
	for _, m := range req.History {
		if m.Role == "assistant" {
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		} else {
			msgs = append(msgs, openai.UserMessage(m.Content))
		}
	}
	msgs = append(msgs, chatUserMessage(req))
	p := openai.ChatCompletionNewParams{Model: shared.ChatModel(req.Model)}
	if req.Temperature != nil {
		p.Temperature = param.NewOpt(*req.Temperature)
	}
	if req.ReasoningEffort != "" {
		p.ReasoningEffort = shared.ReasoningEffort(req.ReasoningEffort)
	}
	funcs := map[string]Function{}
	var tools []openai.ChatCompletionToolUnionParam
	for _, f := range req.Functions {
		tools = append(tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: f.Name, Description: param.NewOpt(f.Description), Parameters: shared.FunctionParameters(f.Parameters),
		}))
		funcs[f.Name] = f
	}
	maxRounds := req.MaxToolRounds
	if maxRounds <= 0 {
		maxRounds = DefaultMaxToolRounds
	}
	out := &Response{}
	for round := 0; ; round++ {
		p.Messages = msgs
		p.Tools = nil
		if round < maxRounds {
			p.Tools = tools // the last round gets no tools, so the model must answer
		}
		resp, err := c.oa.Chat.Completions.New(ctx, p, c.extraOpts(req.Extra)...)
		if err != nil {
			return out, fmt.Errorf("cannot get %s chat completion: %w", req.Model, err)
		}
		out.ID = resp.ID
		if len(resp.Choices) == 0 {
			return out, fmt.Errorf("%s returned no choices", req.Model)
		}
		msg := resp.Choices[0].Message
		if raw, ok := resp.JSON.ExtraFields["citations"]; ok {
			out.Citations = parseCitations(raw.Raw())
		}
		if len(msg.ToolCalls) == 0 || round >= maxRounds {
			out.Text = msg.Content
			out.Status = string(resp.Choices[0].FinishReason)
			return out, nil
		}
		out.ToolRounds++
		msgs = append(msgs, msg.ToParam())
		for _, tc := range msg.ToolCalls {
			fn := tc.AsFunction()
			out.ToolCalls = append(out.ToolCalls, fn.Function.Name)
			msgs = append(msgs, openai.ToolMessage(runFunction(ctx, funcs, fn.Function.Name, fn.Function.Arguments), fn.ID))
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
}
