package scenarios

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Error is a problem in a scenario file, located by file, line and key.
type Error struct {
	File string
	Line int    // 1-based; 0 when unknown
	Col  int    // 1-based; 0 when unknown
	Key  string // YAML path of the offending key, e.g. steps[2].call.expect
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// posError is returned by UnmarshalYAML methods; it carries the node's
// position, which Parse turns into a key path.
type posError struct {
	pos *token.Position
	msg string
}

func (e *posError) Error() string { return e.msg }

func posErr(node ast.Node, msg string) error {
	var pos *token.Position
	if tk := node.GetToken(); tk != nil {
		pos = tk.Position
	}
	return &posError{pos: pos, msg: msg}
}

func scalarString(node ast.Node) (string, bool) {
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return n.GetToken().Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	}
	return "", false
}

// Parse reads one scenario file strictly: unknown keys, duplicate keys,
// wrong types and bad values are errors of type *Error naming file, line
// and key. file is used only in messages.
func Parse(file string, data []byte) (*Scenario, error) {
	root, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(file, nil, err)
	}
	if len(root.Docs) != 1 || root.Docs[0].Body == nil {
		if len(root.Docs) > 1 {
			return nil, &Error{File: file, Msg: fmt.Sprintf("want one YAML document, found %d", len(root.Docs))}
		}
		return nil, &Error{File: file, Line: 1, Msg: "empty scenario file"}
	}
	body := root.Docs[0].Body
	if _, ok := body.(*ast.MappingNode); !ok {
		return nil, located(file, root, "", "a scenario must be a mapping of keys (name, steps…)", body.GetToken())
	}
	sc := &Scenario{file: file, root: root}
	if err := decodeNode(body, sc); err != nil {
		return nil, yamlError(file, root, err)
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

// decodeNode decodes a parsed document into sc strictly. The YAML library
// panics on some malformed input (a bare tag where a list belongs:
// "steps:\n  ! 0" dereferences a nil list node): that is an error in the
// file, not a crash of the replay.
func decodeNode(body ast.Node, sc *Scenario) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML cannot be decoded (the decoder failed: %v); check the indentation and tags near the top-level keys", r)
		}
	}()
	return yaml.NodeToValue(body, sc, yaml.DisallowUnknownField(), yaml.Strict())
}

// ParseFS parses every *.yaml file of dir in fsys, sorted by name, and
// checks that scenario names are unique.
func ParseFS(fsys fs.FS, dir string) ([]*Scenario, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("cannot list scenarios in %q: %w", dir, err)
	}
	sort.Strings(names)
	var out []*Scenario
	seen := map[string]string{}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("cannot read scenario %q: %w", n, err)
		}
		sc, err := Parse(n, data)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[sc.Name]; ok {
			return nil, sc.errAt("name", fmt.Sprintf("scenario name %q already used by %s", sc.Name, prev))
		}
		seen[sc.Name] = n
		out = append(out, sc)
	}
	return out, nil
}

// DecodeThresholds strictly decodes the scenario's thresholds block into v
// (the probes package's thresholds type). Errors are *Error with file, line
// and key. A missing block leaves v untouched.
func (s *Scenario) DecodeThresholds(v any) error {
	if s.Thresholds == nil {
		return nil
	}
	if err := yaml.NodeToValue(s.Thresholds, v, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		e := yamlError(s.file, s.root, err)
		if le, ok := e.(*Error); ok && le.Line == 0 {
			s.locateThreshold(le, v)
		}
		return e
	}
	return nil
}

// locateThreshold finds which key of the thresholds block a positionless
// decode error (e.g. a bad time.Duration, which the YAML library reports
// without a token) came from, by decoding the keys one at a time into a
// fresh value of v's type.
func (s *Scenario) locateThreshold(e *Error, v any) {
	m, ok := s.Thresholds.(*ast.MappingNode)
	if !ok {
		return
	}
	for _, kv := range m.Values {
		one := ast.Mapping(m.GetToken(), false, kv)
		fresh := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if yaml.NodeToValue(one, fresh, yaml.DisallowUnknownField(), yaml.Strict()) == nil {
			continue
		}
		if tk := kv.Value.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
		}
		e.Key = "thresholds." + kv.Key.String()
		return
	}
}

// yamlError turns a go-yaml or posError into an *Error with a key path.
func yamlError(file string, root *ast.File, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		e := &Error{File: file, Msg: pe.msg}
		if pe.pos != nil {
			e.Line, e.Col = pe.pos.Line, pe.pos.Column
			e.Key = keyAt(root, pe.pos)
		}
		return e
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{File: file, Msg: cleanMessage(ye.GetMessage())}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
			e.Key = keyAt(root, tk.Position)
		}
		if m := dupKeyRe.FindStringSubmatch(e.Msg); e.Key == "" && m != nil {
			// The document did not parse, so there is no tree to find the
			// path in; the message names the key.
			e.Key = m[1]
		}
		return e
	}
	return &Error{File: file, Msg: err.Error()}
}

var dupKeyRe = regexp.MustCompile(`^mapping key "([^"]+)" already defined`)

var goFieldRe = regexp.MustCompile(`Go struct field [\w.]+ of type `)

// cleanMessage drops go-yaml's Go-internal wording ("Go struct field
// Scenario.Steps of type int"): the key path already says where.
func cleanMessage(msg string) string {
	return goFieldRe.ReplaceAllString(msg, "")
}

// located builds an *Error at tk.
func located(file string, root *ast.File, key, msg string, tk *token.Token) *Error {
	e := &Error{File: file, Key: key, Msg: msg}
	if tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
		if key == "" {
			e.Key = keyAt(root, tk.Position)
		}
	}
	return e
}

// errAt builds an *Error for the value at YAML path key (e.g.
// "steps[2].call.expect"), falling back to the nearest existing parent.
func (s *Scenario) errAt(key, msg string) *Error {
	e := &Error{File: s.file, Key: key, Msg: msg}
	for k := key; ; {
		if tk := tokenAt(s.root, k); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
			return e
		}
		i := strings.LastIndexAny(k, ".[")
		if i <= 0 {
			return e
		}
		k = k[:i]
	}
}

// walk visits every node with its key path; keyTok is the mapping key's
// token for mapping values, nil otherwise.
func walk(node ast.Node, p string, visit func(p string, keyTok *token.Token, n ast.Node) bool) bool {
	switch n := node.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			if !walkValue(mv, p, visit) {
				return false
			}
		}
	case *ast.MappingValueNode:
		return walkValue(n, p, visit)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			ip := p + "[" + strconv.Itoa(i) + "]"
			if !visit(ip, nil, v) || !walk(v, ip, visit) {
				return false
			}
		}
	case *ast.AnchorNode:
		return walk(n.Value, p, visit)
	case *ast.TagNode:
		return walk(n.Value, p, visit)
	}
	return true
}

func walkValue(mv *ast.MappingValueNode, p string, visit func(string, *token.Token, ast.Node) bool) bool {
	k := mv.Key.String()
	if p != "" {
		k = p + "." + k
	}
	if !visit(k, mv.Key.GetToken(), mv.Value) {
		return false
	}
	return walk(mv.Value, k, visit)
}

// keyAt finds the key path of the node at pos: a mapping key at pos names
// itself, a value at pos names its key. The deepest match wins.
func keyAt(root *ast.File, pos *token.Position) string {
	if root == nil || pos == nil || len(root.Docs) == 0 {
		return ""
	}
	best := ""
	same := func(tk *token.Token) bool {
		return tk != nil && tk.Position != nil && tk.Position.Line == pos.Line && tk.Position.Column == pos.Column
	}
	walk(root.Docs[0].Body, "", func(p string, keyTok *token.Token, n ast.Node) bool {
		if same(keyTok) || (n != nil && same(n.GetToken())) {
			best = p
		}
		return true
	})
	if best == "" {
		// No exact token: take the last key on that line before the column.
		walk(root.Docs[0].Body, "", func(p string, keyTok *token.Token, n ast.Node) bool {
			if keyTok != nil && keyTok.Position != nil && keyTok.Position.Line == pos.Line &&
				keyTok.Position.Column <= pos.Column {
				best = p
			}
			return true
		})
	}
	return best
}

// tokenAt returns the token of the value at key path p, or nil.
func tokenAt(root *ast.File, p string) *token.Token {
	if root == nil || len(root.Docs) == 0 {
		return nil
	}
	var out *token.Token
	walk(root.Docs[0].Body, "", func(q string, keyTok *token.Token, n ast.Node) bool {
		if q != p {
			return true
		}
		if keyTok != nil {
			out = keyTok
		} else if n != nil {
			out = n.GetToken()
		}
		return false
	})
	return out
}

var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// toolNameRe is what MCP allows in a tool's name: 1–128 of letters,
// digits, '_', '-' and '.' (other servers' tools, e.g. get-sum, too).
var toolNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// validate checks values that the YAML types cannot.
func (s *Scenario) validate() error {
	switch {
	case s.Name == "":
		return s.errAt("name", "missing scenario name")
	case !nameRe.MatchString(s.Name):
		return s.errAt("name", fmt.Sprintf("bad name %q: want lower-case letters, digits and dashes", s.Name))
	case strings.TrimSpace(s.Description) == "":
		return s.errAt("description", "missing description")
	case s.Source.Seed == "" || strings.TrimSpace(s.Source.Quote) == "":
		return s.errAt("source", "missing source: cite the seed file and the passage this scenario reproduces")
	}
	if s.Transport != "" && s.Transport != "stdio" && s.Transport != "http" {
		return s.errAt("transport", fmt.Sprintf("unknown transport %q: want stdio or http", s.Transport))
	}
	if l := s.Server.LogLevel; l != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, l) {
		return s.errAt("server.log_level", fmt.Sprintf("unknown log level %q: want debug, info, warn or error", l))
	}
	if m := s.Server.LogShipping; m != "" && m != "async" && m != "sync" {
		return s.errAt("server.log_shipping", fmt.Sprintf("unknown log shipping %q: want async or sync", m))
	}
	if err := s.validateProject(); err != nil {
		return err
	}
	if err := s.validateFaults("faults", s.Faults.API, s.Faults.Sink); err != nil {
		return err
	}
	if len(s.Steps) == 0 {
		return s.errAt("steps", "a scenario needs at least one step")
	}
	if s.Thresholds != nil {
		if _, ok := s.Thresholds.(*ast.MappingNode); !ok {
			return s.errAt("thresholds", "thresholds must be a mapping")
		}
	}
	return s.validateSteps("steps", s.Steps)
}

func (s *Scenario) validateProject() error {
	p := s.Project
	if p.Path != "" {
		if p.Files != 0 || p.InlineFiles != 0 {
			return s.errAt("project.path", "give either path or a generated tree (files, inline_files), not both")
		}
		return nil
	}
	checks := []struct {
		key string
		bad bool
		msg string
	}{
		{"project.files", p.Files < 0 || p.Files > 10000, "files must be 0..10000"},
		{"project.inline_files", p.InlineFiles < 0 || p.InlineFiles > 10000, "inline_files must be 0..10000"},
		{"project.size", p.Files > 0 && p.Size <= 0, "size must be > 0 when files > 0"},
		{"project.inline_size", p.InlineFiles > 0 && p.InlineSize <= 0, "inline_size must be > 0 when inline_files > 0"},
		{"project.size", p.Size > 2<<20, "size must be at most 2MiB (the server skips bigger files)"},
		{"project.dirs", p.Dirs < 0 || p.Dirs > 1000, "dirs must be 0..1000"},
	}
	for _, c := range checks {
		if c.bad {
			return s.errAt(c.key, c.msg)
		}
	}
	return nil
}

func (s *Scenario) validateFaults(key string, api *APIFaults, sink *SinkFaults) error {
	if api != nil {
		if t := api.Throttle; t != nil && (t.Factor < 1 || t.Recovery <= 0 || t.AfterUploads < 0 || (t.AfterUploads == 0 && t.AfterBytes == 0)) {
			return s.errAt(key+".api.throttle", "throttle needs factor >= 1, after_uploads or after_bytes > 0 and a recovery window > 0")
		}
		rules := []struct {
			name string
			r    *Rule
		}{{"rate_limit", api.RateLimit}, {"server_errors", api.ServerErrors}, {"stall", api.Stall}, {"delete_stall", api.DeleteStall}}
		for _, r := range rules {
			if r.r == nil {
				continue
			}
			if r.r.Count < -1 || r.r.Every < 0 || (r.r.Count == 0 && r.r.Every == 0) {
				return s.errAt(key+".api."+r.name, "a rule needs count (>0, or -1 for every request) or every (>0)")
			}
			if st := r.r.Status; st != 0 && (r.name != "server_errors" || st < 500 || st > 599) {
				return s.errAt(key+".api."+r.name+".status", fmt.Sprintf("status %d: only server_errors takes a status, 500..599", st))
			}
			if r.r.RetryAfter != 0 && r.name != "rate_limit" {
				return s.errAt(key+".api."+r.name+".retry_after", "only rate_limit takes retry_after")
			}
		}
		if api.StoreLimit < 0 || api.PrefillStores < 0 {
			return s.errAt(key+".api", "counts must not be negative")
		}
		if api.StoreLimit > 0 && api.PrefillStores > api.StoreLimit {
			return s.errAt(key+".api.prefill_stores", "prefill_stores exceeds store_limit")
		}
	}
	if sink != nil && sink.Status != 0 && (sink.Status < 500 || sink.Status > 599) {
		return s.errAt(key+".sink.status", fmt.Sprintf("status %d is not a server error (500..599)", sink.Status))
	}
	if sink != nil && (sink.ErrorCount < 0 || (sink.ErrorCount > 0 && sink.Status == 0)) {
		return s.errAt(key+".sink.error_count", "error_count needs a status and must not be negative")
	}
	return nil
}

func (s *Scenario) validateSteps(key string, steps []Step) error {
	for i, st := range steps {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch st.kinds() {
		case 0:
			return s.errAt(k, "empty step: want one of call, gap, fault, cancel, wait, concurrent, repeat, phase, load")
		case 1:
		default:
			return s.errAt(k, "a step has exactly one of call, gap, fault, cancel, wait, concurrent, repeat, phase, load")
		}
		var err error
		switch {
		case st.Call != nil:
			err = s.validateCall(k+".call", st.Call)
		case st.Gap != nil:
			if *st.Gap <= 0 {
				err = s.errAt(k+".gap", "gap must be > 0")
			}
		case st.Fault != nil:
			err = s.validateFaultStep(k+".fault", st.Fault)
		case st.Cancel != nil:
			// After may be zero: cancel at once.
		case st.Concurrent != nil:
			c := st.Concurrent
			switch {
			case c.Count < 1 || c.Count > 1000:
				err = s.errAt(k+".concurrent.count", "count must be 1..1000")
			case c.Call == nil:
				err = s.errAt(k+".concurrent", "missing call")
			case c.Call.Background:
				err = s.errAt(k+".concurrent.call.background", "concurrent calls cannot be background")
			default:
				err = s.validateCall(k+".concurrent.call", c.Call)
			}
		case st.Repeat != nil:
			r := st.Repeat
			switch {
			case r.Times < 1 || r.Times > 10000:
				err = s.errAt(k+".repeat.times", "times must be 1..10000")
			case len(r.Steps) == 0:
				err = s.errAt(k+".repeat.steps", "repeat needs steps")
			default:
				err = s.validateSteps(k+".repeat.steps", r.Steps)
			}
		case st.Load != nil:
			err = s.validateLoad(k+".load", st.Load)
		case st.Phase != nil:
			if !nameRe.MatchString(*st.Phase) {
				err = s.errAt(k+".phase", fmt.Sprintf("bad phase name %q: want lower-case letters, digits and dashes", *st.Phase))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Scenario) validateCall(key string, c *Call) error {
	switch {
	case c.Tool == "":
		return s.errAt(key+".tool", "missing tool")
	case !toolNameRe.MatchString(c.Tool):
		return s.errAt(key+".tool", fmt.Sprintf("bad tool name %q", c.Tool))
	case c.Expect != "" && c.Expect != OutcomeOK && c.Expect != OutcomeError && c.Expect != OutcomeCancelled:
		return s.errAt(key+".expect", fmt.Sprintf("unknown outcome %q: want ok, error or cancelled", c.Expect))
	}
	if c.Context != nil {
		for i, p := range *c.Context {
			if p == "" || path.IsAbs(p) || strings.HasPrefix(path.Clean(p), "..") {
				return s.errAt(fmt.Sprintf("%s.context[%d]", key, i), fmt.Sprintf("context path %q must be relative to the project and stay inside it", p))
			}
		}
	}
	for k := range c.Args {
		if slices.Contains([]string{"instructions", "output_format", "context", "session_id"}, k) {
			return s.errAt(key+".args."+k, fmt.Sprintf("set %s with the call's own key, not args", k))
		}
	}
	return nil
}

func (s *Scenario) validateFaultStep(key string, f *FaultStep) error {
	if f.API == nil && f.Sink == nil && len(f.Clear) == 0 {
		return s.errAt(key, "a fault step sets api or sink faults, or clears them")
	}
	for i, c := range f.Clear {
		if c != "api" && c != "sink" && c != "all" {
			return s.errAt(fmt.Sprintf("%s.clear[%d]", key, i), fmt.Sprintf("unknown side %q: want api, sink or all", c))
		}
	}
	if f.For > 0 && f.API == nil && f.Sink == nil {
		return s.errAt(key+".for", "for needs api or sink faults to undo")
	}
	return s.validateFaults(key, f.API, f.Sink)
}
