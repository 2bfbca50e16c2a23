// Package vectorstore uploads a session's overflow files to an OpenAI-compatible
// vector store, deduplicates them by content hash, and manages the stores'
// lifecycle (the original project's "Loiter Killer", in-process).
package vectorstore
