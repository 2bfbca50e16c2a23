// Package vectorstore uploads a session's overflow files to an OpenAI-compatible
// vector store, deduplicates them by content hash, and manages the stores'
// lifecycle (the original project's "Loiter Killer", in-process).
//
// # Uploads
//
// [Manager.Attach] hashes the files (sha256), then per file: already in the
// session's store with the same hash → nothing to do; uploaded before for
// this project with the same path and hash → attached without uploading;
// otherwise uploaded (POST /v1/files, purpose "assistants"). A changed file
// is uploaded again and its old version taken out of the store. Files with
// an extension file_search does not index (.yaml, .toml, .rs, none, …) are
// uploaded as "<name>.txt"; the original path is kept in the file's
// attributes ("path"). Empty and unreadable files are reported in
// Attachment.Failed, like files that still fail after retries: nothing is
// dropped silently.
//
// Up to BatchMin (20) files go as one file batch; more are split into
// batches (evenly into Concurrency batches, or BatchSize each), at most
// Concurrency (10) in flight, each polled until done on the scenario clock
// (honouring openai-poll-after-ms). File uploads share one bound across
// the manager, MaxUploads (16): all calls and batches together. Failed files are retried in a smaller
// batch with backoff. Provider errors are retried by this package, not by
// the SDK (every call sets option.WithMaxRetries(0) and a per-attempt
// timeout): waits honour Retry-After / Retry-After-Ms, run on the scenario
// clock and end with the call's context. Cancelling Attach stops uploads and
// polling at once; it returns after every goroutine it started has returned.
//
// # Records
//
// Everything lives in the shared SQLite database (tables vs_*, created with
// IF NOT EXISTS): stores (with their session key and state), uploaded files
// (project, path, sha256, provider id), which file is in which store, and a
// heartbeat per running manager. A record is written before the provider
// call that creates the object, so a crash always leaves a trace. Open the
// database with journal_mode(WAL), synchronous(NORMAL) and
// SetMaxOpenConns(1): SQLite has one writer, and extra connections only turn
// concurrent writes into SQLITE_BUSY sleeps (measured: 20–60× slower
// uploads in BenchmarkAttach90).
//
// # Lifecycle
//
// A session (project, tool, session id) reuses its store across calls and
// restarts. A store unused for StoreTTL is deleted by the sweeper, which
// runs every SweepInterval of scenario time. Deletes never run on a
// request's context: they are detached goroutines owned by the Manager, with
// their own per-attempt timeout, retried with backoff, and recorded so that
// the next run finishes them if this one cannot. Deleting a store also
// deletes its files unless another live store references them: dedup spans
// the stores alive at the time, and nothing accumulates at the provider.
//
// Before creating a store when StoreLimit-EvictHeadroom stores exist, the
// least recently used idle session stores (not in use, unused for
// EvictMinIdle) are evicted; at StoreLimit with nothing evictable, Attach
// returns [ErrStoreLimit] at once. A provider refusal for the same reason
// (its cap may be lower than ours) also evicts and retries.
//
// On start and on every sweep, records left by a run whose heartbeat went
// stale (a crash) are resolved: stores named with this database's prefix
// ("<NamePrefix>-<install id>-<nonce>") are listed at the provider and
// deleted when their record says "creating" or is missing; uploads never
// attached are deleted. A crashed run's live session stores that hold files
// stay: their sessions continue, or the TTL removes them; an empty one (the
// run died before attaching anything) is deleted while no other server runs
// on the database, and its session gets a new store.
//
// # Provider state that vanished
//
// Records are trusted only while the provider confirms them. Before reusing
// a session's store, Attach looks it up (one GET): a 404, an expired store,
// or a store whose name is not the one we gave it (a provider that lost its
// state and reissued the id — `serve --provider fake` after a restart) means
// the store is gone: its records are dropped, the upload records of its
// files are invalidated, and a new store is created and filled
// (Attachment.ReplacedStore names the old one). A dedup hit on a file the
// provider no longer has (a 404 on the batch) invalidates that record and the
// file is uploaded again at once. [Manager.SearchReport] skips, names and
// forgets stores that answer 404 instead of failing the search; a memory
// write into a vanished store goes to a new one. [Manager.ForgetMissingStore]
// lets the server do the same when a model call reports a missing store.
//
// Memory stores ([Manager.AddDocument], [Manager.MemoryStoreIDs]) are used
// by package memory; they roll over after MemoryRollover documents, have no
// TTL and are never evicted.
//
// # Goroutines
//
// Nothing starts in [NewManager]. [Manager.Start] starts the sweeper;
// deletes, detached store creations and batch cancellations run as tracked
// goroutines. [Manager.Close] stops the sweeper, waits for that work until
// its context ends, then cancels the rest and waits for every goroutine.
package vectorstore
