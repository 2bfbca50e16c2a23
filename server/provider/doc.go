// Package provider calls OpenAI-compatible model APIs with openai-go: the
// Responses API (OpenAI models; background mode with polling for slow ones,
// file_search over vector stores) and chat completions (Gemini and Grok
// through their OpenAI-compatible endpoints; a bounded function-calling loop
// for search_task_files and search_project_history).
//
// Every wait obeys the call's context. A background response whose call is
// cancelled is also cancelled at the provider, on a fresh short-timeout
// context in a goroutine owned by the [Client] ([Client.Close] waits for it):
// the original left such responses running.
package provider
