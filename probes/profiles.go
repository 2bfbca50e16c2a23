package probes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// StackSample is one sample of a pprof profile: a stack with its labels and
// values. For goroutine profiles Count is the number of goroutines; for
// block and mutex profiles Count is contentions and Delay the time waited.
type StackSample struct {
	Count int64
	// Delay is the time behind the sample: the wait of a block or mutex
	// profile, the on-CPU time of a CPU profile.
	Delay  time.Duration
	Labels map[string]string // first value of each pprof label
	Stack  []Frame           // leaf first, inlined frames expanded
}

// ParseProfile parses a pprof protobuf (gzipped or not).
func ParseProfile(data []byte) (*profile.Profile, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("cannot parse pprof profile (%d bytes): %w", len(data), err)
	}
	return p, nil
}

// Samples flattens a profile into stack samples. The value named
// "contentions" or "count" (else the first) is Count, and the one named
// "delay" is Delay (nanoseconds).
func Samples(p *profile.Profile) []StackSample {
	countIdx, delayIdx := 0, -1
	for i, st := range p.SampleType {
		switch st.Type {
		case "contentions", "count", "goroutine", "samples":
			countIdx = i
		case "delay", "cpu":
			delayIdx = i
		}
	}
	out := make([]StackSample, 0, len(p.Sample))
	for _, s := range p.Sample {
		ss := StackSample{Labels: map[string]string{}}
		if countIdx < len(s.Value) {
			ss.Count = s.Value[countIdx]
		}
		if delayIdx >= 0 && delayIdx < len(s.Value) {
			ss.Delay = time.Duration(s.Value[delayIdx])
		}
		for k, v := range s.Label {
			if len(v) > 0 {
				ss.Labels[k] = v[0]
			}
		}
		for _, loc := range s.Location {
			// Line[0] is the innermost inlined call: leaf-first order
			// keeps that order.
			for _, ln := range loc.Line {
				f := Frame{Line: int(ln.Line)}
				if ln.Function != nil {
					f.Func = ln.Function.Name
					f.File = ln.Function.Filename
				}
				ss.Stack = append(ss.Stack, f)
			}
		}
		out = append(out, ss)
	}
	return out
}

// Delta returns after − before for cumulative profiles (block, mutex):
// what was recorded between the two fetches. Stacks whose values did not
// change are dropped. A nil before returns after.
func Delta(before, after *profile.Profile) (*profile.Profile, error) {
	if after == nil {
		return nil, fmt.Errorf("cannot subtract profiles: no 'after' profile")
	}
	if before == nil {
		return after, nil
	}
	neg := before.Copy()
	neg.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{after, neg})
	if err != nil {
		return nil, fmt.Errorf("cannot subtract profiles: %w", err)
	}
	// A stack can only shrink if the server restarted between fetches;
	// such leftovers are noise, not waiting.
	keep := d.Sample[:0]
	for _, s := range d.Sample {
		pos := false
		for _, v := range s.Value {
			if v > 0 {
				pos = true
			}
		}
		if pos {
			keep = append(keep, s)
		}
	}
	d.Sample = keep
	d.TimeNanos = after.TimeNanos
	if before.TimeNanos > 0 && after.TimeNanos > before.TimeNanos {
		d.DurationNanos = after.TimeNanos - before.TimeNanos
	}
	return d, nil
}

// GoroutineDump is one goroutine snapshot: the debug=2 text parsed, with
// pprof labels taken from the header (GODEBUG=tracebacklabels=1) or joined
// from the debug=0 profile fetched at the same moment.
type GoroutineDump struct {
	At         time.Time
	Goroutines []Goroutine
	Text       []byte // raw debug=2 text
	Proto      []byte // raw debug=0 profile, if fetched
}

// JoinLabels fills the Labels of goroutines that have none from the
// samples of a debug=0 goroutine profile with the same stack (by function
// names). A label is copied only when every sample with that stack agrees
// on its value: five request goroutines stuck at one frame share
// path=request though their request_id differ.
func JoinLabels(gs []Goroutine, samples []StackSample) {
	type agree struct {
		vals map[string]string
		bad  map[string]bool
	}
	byKey := map[string]*agree{}
	for _, s := range samples {
		k := stackKey(s.Stack)
		a := byKey[k]
		if a == nil {
			a = &agree{vals: map[string]string{}, bad: map[string]bool{}}
			for lk, lv := range s.Labels {
				a.vals[lk] = lv
			}
			byKey[k] = a
			continue
		}
		for lk := range a.vals {
			if s.Labels[lk] != a.vals[lk] {
				a.bad[lk] = true
			}
		}
		for lk := range s.Labels {
			if _, ok := a.vals[lk]; !ok {
				a.bad[lk] = true
			}
		}
	}
	for i := range gs {
		if len(gs[i].Labels) > 0 {
			continue
		}
		a := byKey[stackKey(gs[i].Stack)]
		if a == nil {
			continue
		}
		for lk, lv := range a.vals {
			if !a.bad[lk] {
				if gs[i].Labels == nil {
					gs[i].Labels = map[string]string{}
				}
				gs[i].Labels[lk] = lv
			}
		}
	}
}

// NewGoroutineDump parses a debug=2 text and, when proto is not empty, the
// debug=0 profile taken with it, and joins their labels.
func NewGoroutineDump(at time.Time, text, proto []byte) (*GoroutineDump, error) {
	gs, err := ParseGoroutines(text)
	if err != nil {
		return nil, err
	}
	d := &GoroutineDump{At: at, Goroutines: gs, Text: text, Proto: proto}
	if len(proto) > 0 {
		p, err := ParseProfile(proto)
		if err != nil {
			return nil, err
		}
		JoinLabels(d.Goroutines, Samples(p))
	}
	return d, nil
}

// SavedProfile is one raw profile to write beside result.json.
type SavedProfile struct {
	Name string // file name, e.g. "step3-goroutine.pb.gz"
	Data []byte
}

// SaveProfiles writes the profiles into dir (created if needed) so that
// `go tool pprof FILE` opens them, and returns the paths written.
func SaveProfiles(dir string, ps []SavedProfile) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create profile dir %q: %w", dir, err)
	}
	var paths []string
	for _, p := range ps {
		if len(p.Data) == 0 {
			continue
		}
		name := filepath.Base(p.Name) // never escape dir
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, p.Data, 0o644); err != nil {
			return paths, fmt.Errorf("cannot save profile %q: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// EncodeProfile serialises a profile (gzipped protobuf), e.g. a Delta.
func EncodeProfile(p *profile.Profile) ([]byte, error) {
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		return nil, fmt.Errorf("cannot encode profile: %w", err)
	}
	return b.Bytes(), nil
}

// CountByPath counts the goroutines of a dump by path and component, e.g.
// {"request/noop": 3, "background/shipper": 1}.
func (d *GoroutineDump) CountByPath() map[string]int {
	out := map[string]int{}
	for _, g := range d.Goroutines {
		p, c := ClassifyPath(g.Labels, g.Stack)
		out[string(p)+"/"+c]++
	}
	return out
}

// formatStack renders a stack for reports.Culprit.Stack.
func formatStack(stack []Frame, max int) []string {
	out := make([]string, 0, min(len(stack), max))
	for i, f := range stack {
		if i == max {
			out = append(out, fmt.Sprintf("... %d more", len(stack)-max))
			break
		}
		out = append(out, f.Short())
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func labelString(m map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}
