// Package reports aggregates the harness's measurements and renders them:
// result.json (the versioned schema in result.go), summary.md, report.html,
// junit.xml and HdrHistogram .hlog files, plus run-to-run diffs.
package reports
