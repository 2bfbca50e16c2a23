// Package faults re-creates, on purpose, root causes that once made an MCP
// server like this one hang, so the harness can prove it catches and names
// each of them (`secondbrain replay --canaries`). Nothing here is on by
// default: `secondbrain serve --canary NAME` switches a fault on, and the
// server's log says so at start-up.
//
// A fault reaches the server only through its hooks — [Set] implements
// server.ModelCallHook (before each model request) and
// server.DispatchHook (on the stdio read loop, for each tools/call) — and,
// for the two logging faults and the connection pool, through settings the
// serve command makes (logship's blocking modes, an HTTP client). The
// request path calls a hook when one is set and never tests a fault's name.
//
// [All] is the one registry of faults: each one's name, the flags that
// switch it on, the cause label the diagnosis must give and where its
// culprit frame must be — the latter read from the code itself, so a
// renamed function cannot leave the registry behind.
//
// Goroutines: a Set owns the worker of the worker-pool fault and the
// compactions of the held-lock fault; [Set.Close] stops them and waits.
package faults
