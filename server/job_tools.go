package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/secondbrain-dev/secondbrain/server/jobs"
)

// jobTools registers start_job, poll_job and cancel_job.
func (s *Server) registerJobTools() {
	s.mcp.AddTool(mcp.NewTool("start_job",
		mcp.WithDescription("Start a model tool call as a job and return its job_id at once; poll_job reports its progress and, when done, the tool's result. "+
			"For hosts that give up on a call that stays silent (a 30-minute deep research). Jobs survive a server restart."),
		mcp.WithString("tool", mcp.Required(), mcp.Description("The model tool to run, e.g. research_with_o3_deep_research.")),
		mcp.WithObject("arguments", mcp.Required(), mcp.Description("The tool's arguments, as for a direct call.")),
	), s.startJob)
	s.mcp.AddTool(mcp.NewTool("poll_job",
		mcp.WithDescription("A job's status (queued, running, completed, failed, cancelled), progress and, once completed, the tool's result."),
		mcp.WithString("job_id", mcp.Required()),
		mcp.WithReadOnlyHintAnnotation(true),
	), s.pollJob)
	s.mcp.AddTool(mcp.NewTool("cancel_job",
		mcp.WithDescription("Cancel a job: its provider work stops as a cancelled call's does."),
		mcp.WithString("job_id", mcp.Required()),
	), s.cancelJob)
}

func (s *Server) startJob(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a := args(req.GetArguments())
	tool, err := a.str("tool", true)
	if err != nil {
		return toolError("invalid arguments for start_job: %v", err), nil
	}
	m, ok := s.models[tool]
	if !ok {
		return toolError("start_job runs model tools; %q is none (list_models shows them)", tool), nil
	}
	toolArgs, err := a.object("arguments")
	if err != nil || toolArgs == nil {
		return toolError("invalid arguments for start_job: %q must be an object of the tool's arguments", "arguments"), nil
	}
	// Refuse at once what the tool would refuse: a job that fails in its
	// first millisecond helps no one.
	if _, err := parseChatParams(m, args(toolArgs)); err != nil {
		return toolError("invalid arguments for %s: %v", tool, err), nil
	}
	b, err := json.Marshal(toolArgs)
	if err != nil {
		return toolError("cannot encode the arguments: %v", err), nil
	}
	j, err := s.jobs.Start(ctx, tool, b)
	if err != nil {
		return toolError("cannot start the job: %v", err), nil
	}
	return jsonResult(j)
}

func (s *Server) pollJob(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	id, err := args(req.GetArguments()).str("job_id", true)
	if err != nil {
		return toolError("invalid arguments for poll_job: %v", err), nil
	}
	j, found, err := s.jobs.Get(ctx, id)
	switch {
	case err != nil:
		return toolError("%v", err), nil
	case !found:
		return toolError("no job %q (finished jobs are kept for a day)", id), nil
	}
	return jsonResult(j)
}

func (s *Server) cancelJob(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	id, err := args(req.GetArguments()).str("job_id", true)
	if err != nil {
		return toolError("invalid arguments for cancel_job: %v", err), nil
	}
	j, found, err := s.jobs.Cancel(ctx, id)
	switch {
	case err != nil:
		return toolError("%v", err), nil
	case !found:
		return toolError("no job %q", id), nil
	}
	return jsonResult(j)
}

// runJob is the jobs' runner: it calls the model tool's handler with the
// recorded arguments, its progress going to the job.
func (s *Server) runJob(ctx context.Context, run jobs.Run) (json.RawMessage, error) {
	tool, raw := run.Tool, run.Arguments
	m, ok := s.models[tool]
	if !ok {
		return nil, fmt.Errorf("%q is not a model tool of this server", tool)
	}
	var a map[string]any
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("cannot decode the job's arguments: %w", err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = tool, a
	// A progress token makes the handler report its phase; with no client
	// session the notification goes nowhere, the sink to the job.
	req.Params.Meta = &mcp.Meta{ProgressToken: "job"}
	ctx = context.WithValue(withProgressSink(ctx, run.Progress), jobRunKey{}, run)
	res, err := s.chatHandler(m)(ctx, req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the job's result: %w", err)
	}
	return b, nil
}

type progressSinkKey struct{}

// jobRunKey carries the job run a call belongs to: its model request
// resumes the run's background response and records the one it creates.
type jobRunKey struct{}

// withProgressSink makes the progress of the call in ctx go to sink too.
func withProgressSink(ctx context.Context, sink func(string)) context.Context {
	return context.WithValue(ctx, progressSinkKey{}, sink)
}
