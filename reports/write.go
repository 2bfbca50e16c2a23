package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names WriteAll writes into the output directory.
const (
	ResultFile  = "result.json"
	SummaryFile = "summary.md"
	HTMLFile    = "report.html"
	JUnitFile   = "junit.xml"
)

// WriteAll summarises r (see [Summarize]: it fills missing aggregates in r)
// and writes every report into dir, creating it: result.json, summary.md,
// report.html, junit.xml, and per scenario hlog/<name>.hlog and
// hlog/<name>.hgrm. Each file is written to a temporary name and renamed, so
// a reader never sees half a report. Neither a failing summary nor a failing
// file stops the others; the errors are joined.
//
// The pprof profiles named in Diagnosis.Profiles are written by the probes
// beside result.json; WriteAll only links them.
func WriteAll(dir string, r *Result) error {
	var errs []error
	// A result that cannot be fully summarised is still worth rendering.
	if err := Summarize(r); err != nil {
		errs = append(errs, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, HlogDir), 0o755); err != nil {
		return fmt.Errorf("cannot create report directory %q: %w", dir, err)
	}
	files := []outFile{
		{ResultFile, NewJSONReporter(r)},
		{SummaryFile, NewMarkdownReporter(r)},
		{HTMLFile, NewHTMLReporter(r)},
		{JUnitFile, NewJUnitReporter(r)},
	}
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		if !hasHistograms(sc) {
			continue
		}
		files = append(files, outFile{HlogPath(sc.Name), func(w io.Writer) error { return WriteHlog(w, sc) }})
		if sc.Heartbeat != nil && sc.Heartbeat.Ping != nil && sc.Heartbeat.Ping.Count > 0 {
			files = append(files, outFile{HgrmPath(sc.Name), func(w io.Writer) error { return WriteHgrm(w, sc) }})
		}
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(f.name)), f.rep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// outFile is one report file: its path relative to the output directory
// (slash-separated) and what renders it.
type outFile struct {
	name string
	rep  Reporter
}

// writeFile renders rep in memory, then writes it under a temporary name and
// renames it into place.
func writeFile(path string, rep Reporter) error {
	var buf bytes.Buffer
	if err := rep(&buf); err != nil {
		return fmt.Errorf("cannot render %q: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	_, werr := tmp.Write(buf.Bytes())
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	// CreateTemp makes the file 0600; reports are meant to be shared.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return nil
}

// ReadDir reads the result.json of a report directory; path may also name
// a result.json file directly.
func ReadDir(path string) (*Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read report %q: %w", path, err)
	}
	if fi.IsDir() {
		path = filepath.Join(path, ResultFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read report %q: %w", path, err)
	}
	defer f.Close()
	r, err := ReadResult(f)
	if err != nil {
		return nil, fmt.Errorf("cannot read report %q: %w", path, err)
	}
	return r, nil
}
