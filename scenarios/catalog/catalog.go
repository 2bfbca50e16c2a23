// Package catalog embeds the incident catalog: one scenario file per
// incident of the original server, each quoting the report it replays, so `secondbrain replay`
// runs on a fresh machine with nothing but the binary. The files live here,
// beside the embed directive (go:embed cannot reach testdata/ of another
// directory, and Go ignores testdata/ for packages); testdata/scenarios at
// the repository root is a symlink to this directory.
package catalog

import (
	"embed"
	"io/fs"

	"github.com/secondbrain-dev/secondbrain/scenarios"
)

//go:embed *.yaml
var files embed.FS

// FS returns the catalog's scenario files.
func FS() fs.FS { return files }

// Load parses every scenario of the catalog, sorted by file name.
func Load() ([]*scenarios.Scenario, error) {
	return scenarios.ParseFS(files, ".")
}
