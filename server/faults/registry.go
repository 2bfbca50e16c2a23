package faults

import (
	"reflect"
	"runtime"
	"strings"

	"github.com/secondbrain-dev/secondbrain/server/logship"
	"github.com/secondbrain-dev/secondbrain/server/vectorstore"
)

// Names of the faults.
const (
	SyncLog        = "sync-log"         // every log record shipped inline to the sink
	SyncStderr     = "sync-stderr"      // every log record written inline to stderr
	HeldSemaphore  = "held-semaphore"   // a model-call slot a cancelled call leaves held
	WorkerPool     = "worker-pool"      // tools/call dispatched through a pool of one, on the read loop
	ConnPool       = "conn-pool"        // provider HTTP pool of one connection, no timeouts
	BlockingFileIO = "blocking-file-io" // context files read synchronously on the read loop
	GoroutineLeak  = "goroutine-leak"   // every model call leaves a goroutine behind
	CPUHotPath     = "cpu-hot-path"     // every model call re-hashes what all earlier ones sent
	HeldLock       = "held-lock"        // a background compaction holds the lock every model call takes
)

// Fault describes one deliberate fault.
type Fault struct {
	Name string
	// Args are the `secondbrain serve` flags that switch it on.
	Args []string
	// Cause is the cause label the harness's diagnosis must give it (see
	// the README's table of causes).
	Cause string
	// Culprit is where the diagnosis's culprit frame must be: a function
	// ("faults.(*workerPool).submit") or, for a fault made by a setting,
	// the package whose code then waits ("logship."). It is taken from the
	// code, not written down.
	Culprit string
}

// All lists the faults in the order the README documents them.
func All() []Fault {
	var s *Set
	return []Fault{
		{Name: SyncLog, Args: []string{"--log-shipping", "sync-log"}, Cause: "log-shipping-io", Culprit: pkgOf(logship.Start)},
		{Name: SyncStderr, Args: []string{"--log-shipping", "sync-stderr"}, Cause: "stderr-write", Culprit: pkgOf(logship.Start)},
		{Name: HeldSemaphore, Args: canaryArgs(HeldSemaphore), Cause: "semaphore-held", Culprit: funcOf(s.acquireModelSlot)},
		{Name: WorkerPool, Args: canaryArgs(WorkerPool), Cause: "worker-pool-exhausted", Culprit: funcOf((*workerPool).submit)},
		// The pool is an http.Transport setting: the culprit is the code
		// that waits for a connection, the vector store's uploads.
		{Name: ConnPool, Args: canaryArgs(ConnPool), Cause: "conn-pool-exhausted", Culprit: pkgOf(vectorstore.NewManager)},
		{Name: BlockingFileIO, Args: canaryArgs(BlockingFileIO), Cause: "blocking-file-io", Culprit: funcOf(readContext)},
		{Name: GoroutineLeak, Args: canaryArgs(GoroutineLeak), Cause: "goroutine-leak", Culprit: funcOf(s.watchCall)},
		{Name: CPUHotPath, Args: canaryArgs(CPUHotPath), Cause: "request-cpu", Culprit: funcOf(s.rehashHistory)},
		{Name: HeldLock, Args: canaryArgs(HeldLock), Cause: "lock-held", Culprit: funcOf(s.lockHistory)},
	}
}

// Names lists the faults' names in [All]'s order.
func Names() []string {
	var out []string
	for _, f := range All() {
		out = append(out, f.Name)
	}
	return out
}

// Lookup returns the fault called name.
func Lookup(name string) (Fault, bool) {
	for _, f := range All() {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

func canaryArgs(name string) []string { return []string{"--canary", name} }

// funcOf is the short name of the function fn ("faults.(*Set).watchCall"),
// as a goroutine dump prints it after the import path's last slash; a
// method value's "-fm" suffix is dropped.
func funcOf(fn any) string {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	name = strings.TrimSuffix(name, "-fm")
	return name[strings.LastIndex(name, "/")+1:]
}

// pkgOf is the short package prefix of the function fn ("logship.").
func pkgOf(fn any) string {
	name := funcOf(fn)
	return name[:strings.Index(name, ".")+1]
}
