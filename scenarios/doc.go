// Package scenarios replays the seeds' incidents against an MCP server: the
// scenario file format (strict YAML), the project trees a scenario sends as
// context, and the runner that starts the fakes and the server, plays the
// host's part over stdio or streamable HTTP, injects faults at the right
// moments and records every call.
//
// # Scenario files
//
// A scenario is one YAML document; see [Scenario] for every key. Unknown
// keys, duplicate keys, wrong types and bad values are errors of type
// [*Error] that name the file, line and key. Durations are scenario time:
// a run at time scale 60 waits 3 real seconds for a "3m" gap, and the fakes
// and the server run on clocks of the same scale, so causality is kept.
//
// # Goroutines and processes
//
// [Runner.Run] starts one goroutine that owns everything the run starts: the
// in-process fakes, the server subprocess (in its own process group, killed
// with the group on any exit path), the MCP client and the temp directories.
// The returned channel is closed only after all of them are stopped and
// removed. [Runner.Stop] ends a run early and is idempotent.
package scenarios
