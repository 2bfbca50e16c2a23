// Package session persists conversation state in SQLite (modernc.org/sqlite,
// WAL): per (project, tool, session_id) the OpenAI previous_response_id or the
// chat-completions message history, and the session's stable inline list.
//
// The original keyed sessions by session_id alone, so two tools sharing an id
// overwrote each other; here the key has all three parts. Records expire
// after a TTL of inactivity (default 6 h); [Store.RunCleanup] deletes them
// periodically. The *sql.DB is shared: the vector-store layer adds its own
// tables to it ([Store.DB]).
package session
