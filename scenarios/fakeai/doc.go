// Package fakeai is a fake OpenAI-compatible API with a fault model: the
// ground the server's tests and the incident scenarios stand on, and what
// lets `secondbrain replay` run on a machine with no API keys.
//
// The real openai-go/v3 client works against it unmodified: point it at
// option.WithBaseURL(base+"/v1") (or OPENAI_BASE_URL=base/v1), where base is
// what [Server.Start] returns or the httptest.Server URL. Any API key is
// accepted.
//
// # Endpoints
//
//	GET    /v1/models, /v1/models/{id}
//	POST   /v1/responses                      (background, previous_response_id, file_search, function tools)
//	GET    /v1/responses/{id}                 (queued → in_progress → completed on the clock)
//	POST   /v1/responses/{id}/cancel
//	DELETE /v1/responses/{id}
//	POST   /v1/chat/completions               (tools/tool_calls; stream:true as SSE)
//	POST   /v1/files (multipart: purpose, file); GET /v1/files; GET|DELETE /v1/files/{id}; GET /v1/files/{id}/content
//	POST|GET /v1/vector_stores; GET|POST|DELETE /v1/vector_stores/{vs}; POST /v1/vector_stores/{vs}/search
//	POST|GET /v1/vector_stores/{vs}/files; GET|DELETE /v1/vector_stores/{vs}/files/{id}
//	POST   /v1/vector_stores/{vs}/file_batches; GET …/file_batches/{id}; POST …/{id}/cancel; GET …/{id}/files
//
// Control routes (not under /v1): POST /_fault (a partial [Faults] as JSON;
// {"reset":true} restores the construction-time faults first; an unknown
// key is refused with 400), GET /_fault,
// GET /_stats (flat JSON counters, see [Server.Stats]), GET /health.
//
// Errors use OpenAI's body {"error":{"message","type","param","code"}} with
// its status codes: 400 invalid_request_error for bad JSON, missing
// parameters or multipart parts; 404 for unknown routes and ids (including
// an unknown previous_response_id, code previous_response_not_found); 429
// (type requests, code rate_limit_exceeded) with Retry-After; 5xx
// server_error. The vector-store cap answers 400 invalid_request_error,
// code vector_store_limit_exceeded (OpenAI does not publish the exact text).
//
// # The echo line
//
// Every answer text (Responses output_text, chat message content) starts
// with one line
//
//	fakeai-echo {"api":"responses","model":"o3","input_chars":1234,...}
//
// i.e. [EchoPrefix] followed by the JSON of an [Echo]: model, input_chars
// (runes of instructions + all message text + tool results), input_bytes,
// instructions_chars, messages (chat messages or Responses input items),
// previous_response_id and chain_depth, vector_store_ids (from file_search
// tools), store_files and store_file_names (completed files of those
// stores), inlined_files (every path="…" of a `<file ` tag, in order),
// tools (function tools offered), tool_results and tool_result_chars,
// last_user (first 80 runes of the last user message). [ParseEcho] reads it
// back. A human-readable sentence follows on the next lines.
//
// # Function calling
//
// When a request offers function tools named search_task_files or
// search_project_history and the current turn (after the last user
// message) holds no tool result, the fake answers only with calls to those
// tools (one call each, arguments {"query":"<first 8 words of the last user
// message>"}); once a tool result is present it answers with text. Faults
// call_tools:false turns this off.
//
// # Time and faults
//
// Every wait — latencies, throttled uploads, background response progress,
// file-batch processing, the throttle's recovery window — is scenario time
// on the [clock.Clock] given with [WithClock] (a clock.Scaled 60× makes a
// 4-minute recovery take 4 real seconds; clock.Fake drives tests), and every
// wait also ends when the request's context ends or the server is closed.
// Retry-After headers carry wall-clock time (scenario time ÷ scale).
//
// # Goroutines
//
// The fake starts no goroutine of its own except the serve loop of
// [Server.Start]. Handlers run on net/http's goroutines; [Server.Close]
// releases stalled ones and waits for all of them.
package fakeai
