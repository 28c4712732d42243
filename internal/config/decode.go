package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Load reads and validates the file at path. A file that cannot be read
// gives the error from reading it; a file with problems gives an ErrorList.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(path, data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// Parse validates data read from the file named name; lookupEnv resolves
// ${VAR} (pass os.LookupEnv in production; nil means no variable is set).
// Relative file names in the config resolve against name's directory. On
// any problem it returns a nil Config and an ErrorList of every problem.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	d := &decoder{
		src:       newSource(name, data),
		dir:       filepath.Dir(name),
		lookupEnv: lookupEnv,
		anchors:   map[string]ast.Node{},
	}
	cfg := d.decodeFile(data)
	if len(d.errs) > 0 {
		return nil, sortErrors(d.errs)
	}
	return cfg, nil
}

// decoder walks the YAML syntax tree, so that every value keeps its
// position, and collects every problem instead of stopping at the first.
type decoder struct {
	src       source
	dir       string
	lookupEnv func(string) (string, bool)
	anchors   map[string]ast.Node
	errs      ErrorList
}

func (d *decoder) errorf(p Pos, format string, args ...any) {
	d.errs = append(d.errs, d.src.newError(p, nil, fmt.Sprintf(format, args...)))
}

// causef records a problem whose underlying cause callers may inspect with
// errors.Is, such as a missing ca_file.
func (d *decoder) causef(p Pos, cause error, format string, args ...any) {
	d.errs = append(d.errs, d.src.newError(p, cause, fmt.Sprintf(format, args...)))
}

func (d *decoder) decodeFile(data []byte) *Config {
	draft := newConfigDraft()
	file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		d.syntaxError(err)
		return nil
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			d.errorf(posOf(doc.Body), "the file holds more than one YAML document")
			break
		}
		body = doc.Body
	}
	if body == nil {
		return draft.cfg
	}
	ast.Walk(anchorCollector(d.anchors), body)
	v, ok := d.resolve(value{node: body})
	if !ok || isNull(v.node) {
		return draft.cfg
	}
	decodeKeys(d, v, configKeys, draft)
	draft.check(d)
	return draft.cfg
}

// syntaxError records a YAML syntax error at the place the parser names.
func (d *decoder) syntaxError(err error) {
	pos, msg := Pos{Line: 1, Column: 1}, err.Error()
	var yamlErr yaml.Error
	if errors.As(err, &yamlErr) {
		msg = yamlErr.GetMessage()
		if tk := yamlErr.GetToken(); tk != nil && tk.Position != nil {
			pos = Pos{Line: tk.Position.Line, Column: tk.Position.Column}
		}
	}
	d.causef(pos, err, "invalid YAML: %s", msg)
}

// anchorCollector records every &anchor so that *aliases can be followed
// wherever they appear.
type anchorCollector map[string]ast.Node

func (a anchorCollector) Visit(n ast.Node) ast.Visitor {
	if anchor, ok := n.(*ast.AnchorNode); ok && anchor.Name != nil {
		a[anchor.Name.GetToken().Value] = anchor.Value
	}
	return a
}

// value is one YAML node being decoded, with the words that name it in
// messages: `upstream "app": timeouts.connect`.
type value struct {
	node ast.Node
	// scope names the object the node belongs to (`upstream "app"`,
	// `route 2`); "" at the top level.
	scope string
	// path is the dotted key path inside the scope.
	path string
}

func (v value) label() string {
	switch {
	case v.scope == "":
		return v.path
	case v.path == "":
		return v.scope
	}
	return v.scope + ": " + v.path
}

// prefix is the label followed by ": ", or "" at the top level.
func (v value) prefix() string {
	if l := v.label(); l != "" {
		return l + ": "
	}
	return ""
}

func (v value) child(node ast.Node, key string) value {
	path := key
	if v.path != "" {
		path = v.path + "." + key
	}
	return value{node: node, scope: v.scope, path: path}
}

func (v value) pos() Pos { return posOf(v.node) }

func posOf(n ast.Node) Pos {
	switch n := n.(type) {
	case nil:
		return Pos{}
	case *ast.MappingNode:
		// The node's own token is the first ":"; the first key is where
		// a reader sees the mapping start.
		if len(n.Values) > 0 {
			return posOf(n.Values[0])
		}
	case *ast.MappingValueNode:
		return posOf(n.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Column: tk.Position.Column}
}

// resolve follows anchors, aliases and tags to the node they stand for.
func (d *decoder) resolve(v value) (value, bool) {
	// The bound stops an alias chain that loops back on itself.
	for range 64 {
		switch n := v.node.(type) {
		case *ast.AnchorNode:
			v.node = n.Value
		case *ast.TagNode:
			v.node = n.Value
		case *ast.AliasNode:
			name := n.Value.GetToken().Value
			target, ok := d.anchors[name]
			if !ok {
				if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
					// A message stays on one line, whatever the name holds.
					name = strconv.Quote(name)
				}
				d.errorf(v.pos(), "%salias *%s refers to no anchor", v.prefix(), name)
				return v, false
			}
			v.node = target
		default:
			return v, true
		}
	}
	d.errorf(v.pos(), "%salias chain does not end", v.prefix())
	return v, false
}

func isNull(n ast.Node) bool {
	_, null := n.(*ast.NullNode)
	return n == nil || null
}

// entry is one key of a mapping with its resolved value; broken is set
// when the value could not be resolved (an alias to no anchor), which has
// been reported already.
type entry struct {
	key    string
	pos    Pos
	value  value
	broken bool
}

// entries returns a mapping's keys in file order, reporting duplicate
// keys and keys that are not plain scalars. It returns false when v is not
// a mapping.
func (d *decoder) entries(v value) ([]entry, bool) {
	var pairs []*ast.MappingValueNode
	switch n := v.node.(type) {
	case *ast.MappingNode:
		pairs = n.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{n}
	default:
		d.typeError(v, "a mapping")
		return nil, false
	}
	var out []entry
	first := map[string]Pos{}
	for _, pair := range pairs {
		keyPos := posOf(pair.Key)
		key, problem := keyText(pair.Key)
		if problem != "" {
			d.errorf(keyPos, "%s%s", v.prefix(), problem)
			continue
		}
		if at, dup := first[key]; dup {
			d.errorf(keyPos, "%sduplicate key %q, first set on line %d", v.prefix(), key, at.Line)
			continue
		}
		first[key] = keyPos
		child, ok := d.resolve(v.child(pair.Value, key))
		out = append(out, entry{key: key, pos: keyPos, value: child, broken: !ok})
	}
	return out, true
}

// keyText returns a mapping key's text, or why it is not a plain word.
func keyText(n ast.MapKeyNode) (string, string) {
	if n != nil && n.IsMergeKey() {
		return "", "merge keys (<<) are not supported; use an alias for the whole mapping"
	}
	if explicit, ok := n.(*ast.MappingKeyNode); ok {
		// "? key" is the explicit form of a plain key.
		if inner, ok := explicit.Value.(ast.MapKeyNode); ok {
			n = inner
		}
	}
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, ""
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		return n.GetToken().Value, ""
	}
	return "", "keys must be plain words"
}

// keyTable lists the keys a mapping allows and decodes each into dst.
// Adding a feature's key is one entry here.
type keyTable[T any] map[string]func(d *decoder, v value, dst T)

// extensionPrefix marks top-level keys portico ignores, a place to define
// anchors for reuse (the convention of Compose files).
const extensionPrefix = "x-"

// decodeKeys decodes the mapping v through keys, reporting unknown keys
// with the closest allowed one and missing required keys. A null value is
// the same as leaving the key out. It returns false when v is not a
// mapping.
func decodeKeys[T any](d *decoder, v value, keys keyTable[T], dst T, required ...string) bool {
	entries, ok := d.entries(v)
	if !ok {
		return false
	}
	present := map[string]bool{}
	for _, e := range entries {
		decode, known := keys[e.key]
		switch {
		case !known && v.label() == "" && strings.HasPrefix(e.key, extensionPrefix):
			continue
		case !known:
			d.errorf(e.pos, "%sunknown key %q%s", v.prefix(), e.key,
				didYouMean(e.key, slices.Collect(maps.Keys(keys))))
			continue
		case e.broken:
			present[e.key] = true
			continue
		case isNull(e.value.node):
			continue
		}
		present[e.key] = true
		decode(d, e.value, dst)
	}
	for _, key := range required {
		if !present[key] {
			d.errorf(v.pos(), "%s has no %s", v.label(), key)
		}
	}
	return true
}

// typeError reports a value of the wrong shape.
func (d *decoder) typeError(v value, want string) {
	got := "a single value"
	switch v.node.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		got = "a mapping"
	case *ast.SequenceNode:
		got = "a list"
	case *ast.NullNode, nil:
		got = "empty"
	}
	label := v.label()
	if label == "" {
		label = "the top level"
	}
	if got == "empty" {
		d.errorf(v.pos(), "%s must be %s, not empty", label, want)
		return
	}
	d.errorf(v.pos(), "%s must be %s, not %s", label, want, got)
}

// list returns the items of a sequence, each labelled with itemPath.
func (d *decoder) list(v value, itemPath string) ([]value, bool) {
	seq, ok := v.node.(*ast.SequenceNode)
	if !ok {
		d.typeError(v, "a list")
		return nil, false
	}
	items := make([]value, 0, len(seq.Values))
	for _, n := range seq.Values {
		item, ok := d.resolve(value{node: n, scope: v.scope, path: itemPath})
		if ok {
			items = append(items, item)
		}
	}
	return items, true
}

// scalar returns a single value's text with ${VAR} references expanded.
func (d *decoder) scalar(v value) (string, bool) {
	var text string
	switch n := v.node.(type) {
	case *ast.StringNode:
		text = n.Value
	case *ast.LiteralNode:
		if n.Value != nil {
			text = n.Value.Value
		}
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		text = n.GetToken().Value
	default:
		d.typeError(v, "a single value")
		return "", false
	}
	expanded, envErr := expandEnv(text, d.lookupEnv)
	if envErr != nil {
		d.errorf(envPos(v.node, text, envErr.offset), "%s", envErr.msg)
		return "", false
	}
	return expanded, true
}

// envPos places a ${VAR} error on the "$" itself when the scalar sits on
// one line exactly as written (plain or quoted without escapes), and at the
// scalar's start otherwise.
func envPos(n ast.Node, text string, offset int) Pos {
	p := posOf(n)
	str, ok := n.(*ast.StringNode)
	if !ok {
		return p
	}
	origin := strings.TrimSpace(str.GetToken().Origin)
	switch {
	case origin == text:
	case len(origin) == len(text)+2 && (origin[0] == '"' || origin[0] == '\'') && origin[1:len(origin)-1] == text:
		p.Column++
	default:
		return p
	}
	p.Column += offset
	return p
}
