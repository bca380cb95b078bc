package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Load reads, defaults and validates the spec at path. It returns the spec and every diagnostic;
// err is non-nil (a Diagnostics of the errors) when the spec cannot be used.
func Load(path string) (*Spec, Diagnostics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading spec: %w", err)
	}
	defer f.Close()
	// Read one byte past the limit, not the whole input: /dev/zero is a file too.
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading spec: %w", err)
	}
	return Parse(path, data)
}

// Bounds on a spec, far above any real one, so that hostile input costs
// little: its size, and the keys of one mapping (checked in one linear pass
// before decoding, whose duplicate-key check grows with their square).
const (
	MaxSpecBytes   = 4 << 20
	maxMappingKeys = 1000
)

// Parse is Load on bytes; name is used in diagnostics.
func Parse(name string, data []byte) (*Spec, Diagnostics, error) {
	c := &collector{file: name}
	if len(data) > MaxSpecBytes {
		c.errorf(Pos{1, 1}, "the spec is larger than %d bytes: is it the right file?", MaxSpecBytes)
		return nil, c.ds, c.ds.Errors()
	}
	spec := decode(c, data)
	if spec != nil {
		spec.File = name
		applyDefaults(spec)
		validate(c, spec)
	}
	if errs := c.ds.Errors(); len(errs) > 0 {
		return nil, c.ds, errs
	}
	return spec, c.ds, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// decode parses YAML strictly: unknown keys, wrong types and duplicate keys are errors with a
// position. It returns nil when nothing usable was decoded.
func decode(c *collector, data []byte) *Spec {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.errorf(Pos{1, 1}, "the spec is empty: it needs at least `service` and `signals` (see the README's spec reference)")
			return nil
		}
		yamlError(c, err, data, nil)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.errorf(posOf(&extra), "a spec file holds one YAML document; found a second one here")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		c.errorf(posOf(root), "the spec must be a YAML mapping with keys such as service, selector, levels and signals")
		return nil
	}
	if n, wide := widestMapping(root); n > maxMappingKeys {
		c.errorf(posOf(wide), "a mapping with %d keys: a spec has at most %d in one mapping", n, maxMappingKeys)
		return nil
	}
	spec := &Spec{Pos: posOf(root)}
	if err := root.Decode(spec); err != nil {
		yamlError(c, err, data, root)
		return nil
	}
	n := len(c.ds)
	walk(c, root, reflect.ValueOf(spec).Elem(), "")
	if len(c.ds) > n {
		return nil
	}
	return spec
}

// widestMapping returns the mapping node with the most keys and their number, in one pass.
func widestMapping(n *yaml.Node) (int, *yaml.Node) {
	best, widest := 0, n
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.MappingNode && len(n.Content)/2 > best {
			best, widest = len(n.Content)/2, n
		}
		stack = append(stack, n.Content...)
	}
	return best, widest
}

// yamlError turns a yaml.v3 error into diagnostics with the best position it offers; where
// yaml.v3 gives a line only or nothing, the position is found in the text or the tree.
func yamlError(c *collector, err error, data []byte, root *yaml.Node) {
	var pe *PosError
	if errors.As(err, &pe) {
		c.errorf(pe.Pos, "%s", pe.Msg)
		return
	}
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			var line int
			fmt.Sscan(sm[1], &line)
			c.errorf(Pos{line, columnOf(root, line, sm[2])}, "%s", friendlyYAML(sm[2]))
			continue
		}
		c.errorf(locate(data, m), "%s", friendlyYAML(m))
	}
}

var typeErrValueRE = regexp.MustCompile("cannot unmarshal !![a-z]+ `([^`]*)`")

// columnOf finds the column of the value a type error names on line (1 when it cannot).
func columnOf(root *yaml.Node, line int, msg string) int {
	sm := typeErrValueRE.FindStringSubmatch(msg)
	if root == nil || sm == nil {
		return 1
	}
	var find func(n *yaml.Node) int
	find = func(n *yaml.Node) int {
		if n.Line == line && n.Kind == yaml.ScalarNode && n.Value == sm[1] {
			return n.Column
		}
		for _, ch := range n.Content {
			if col := find(ch); col > 0 {
				return col
			}
		}
		return 0
	}
	return max(find(root), 1)
}

var unknownAnchorRE = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)

// locate finds where in data the scanner error m (which carries no position) comes from: the
// first byte YAML does not accept, or the alias of an unknown anchor; else the start of the file.
func locate(data []byte, m string) Pos {
	bad := -1
	switch {
	case strings.Contains(m, "UTF-8"):
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				bad = i
				break
			}
			i += n
		}
	case strings.Contains(m, "control characters"):
		bad = bytes.IndexFunc(data, func(r rune) bool {
			return r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f && r != 0x85))
		})
	default:
		if sm := unknownAnchorRE.FindStringSubmatch(m); sm != nil {
			bad = bytes.Index(data, []byte("*"+sm[1]))
		}
	}
	if bad < 0 {
		return Pos{1, 1}
	}
	line := 1 + bytes.Count(data[:bad], []byte("\n"))
	col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:bad], '\n')+1:bad])
	return Pos{line, col}
}

func friendlyYAML(m string) string {
	m = strings.ReplaceAll(m, "limits.", "")
	if strings.Contains(m, "cannot unmarshal") {
		m += " (check the value's type against the spec reference)"
	}
	return m
}

var posType = reflect.TypeOf(Pos{})
var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// walk checks that every mapping key is a known field and records each struct's Pos.
func walk(c *collector, n *yaml.Node, v reflect.Value, path string) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		return // types that unmarshal themselves check their own keys
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := yamlFields(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				c.errorf(posOf(k), "unknown key %q in %s (known keys: %s)", k.Value, where(path), knownKeys(fields))
				continue
			}
			walk(c, val, v.Field(idx), join(path, k.Value))
		}
		if f := v.FieldByName("Pos"); f.IsValid() && f.Type() == posType {
			f.Set(reflect.ValueOf(posOf(n)))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			if i >= v.Len() {
				continue
			}
			p := fmt.Sprintf("%s[%d]", path, i)
			if e := v.Index(i); e.Kind() == reflect.Pointer && e.IsNil() {
				c.errorf(posOf(item), "%s is empty: write its keys, or remove the dash", where(p))
				continue
			}
			walk(c, item, v.Index(i), p)
		}
	}
}

func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			out[tag] = i
		}
	}
	return out
}

func knownKeys(fields map[string]int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func where(path string) string {
	if path == "" {
		return "the spec"
	}
	return "`" + path + "`"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// UnmarshalYAML accepts a threshold as a plain quantity (`red: 0.5%`) or as a mapping that also
// overrides the level's timing (`red: {value: 0.5%, for: 2m}`).
func (t *Threshold) UnmarshalYAML(n *yaml.Node) error {
	t.Pos = posOf(n)
	if n.Kind == yaml.ScalarNode {
		return t.Value.UnmarshalYAML(n)
	}
	if n.Kind != yaml.MappingNode {
		return &PosError{Pos: posOf(n), Msg: "a threshold is a quantity (e.g. 0.5%) or a mapping with value, for, keep_firing_for"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "value":
			err = t.Value.UnmarshalYAML(v)
		case "for":
			t.For = &Duration{}
			err = t.For.UnmarshalYAML(v)
		case "keep_firing_for":
			t.KeepFiringFor = &Duration{}
			err = t.KeepFiringFor.UnmarshalYAML(v)
		default:
			err = &PosError{Pos: posOf(k), Msg: fmt.Sprintf("unknown key %q in a threshold (known keys: value, for, keep_firing_for)", k.Value)}
		}
		if err != nil {
			return err
		}
	}
	if t.Value.Raw == "" {
		return &PosError{Pos: posOf(n), Msg: "a threshold mapping needs `value`, e.g. {value: 0.5%, for: 2m}"}
	}
	return nil
}

// UnmarshalYAML accepts an action by name (`page`, `reject_new`, `drain`, `andon`, `shed`) or
// shed with its parameters (`shed: {fraction: 0.5, tiers: [3, 2]}`).
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	a.Pos = posOf(n)
	known := commaList(ActionKinds)
	switch n.Kind {
	case yaml.ScalarNode:
		a.Kind = ActionKind(n.Value)
		if slices.Contains(ActionKinds, a.Kind) {
			return nil
		}
		return &PosError{Pos: posOf(n), Msg: fmt.Sprintf("unknown action %q (known: %s)", n.Value, known)}
	case yaml.MappingNode:
		if len(n.Content) != 2 || n.Content[0].Value != string(ActionShed) {
			return &PosError{Pos: posOf(n), Msg: "only shed takes parameters: write `shed: {fraction: 0.5, tiers: [3, 2]}`"}
		}
		a.Kind = ActionShed
		p := n.Content[1]
		if p.Kind != yaml.MappingNode {
			return &PosError{Pos: posOf(p), Msg: "shed parameters are a mapping: {fraction: 0.5, tiers: [3, 2]}"}
		}
		for i := 0; i+1 < len(p.Content); i += 2 {
			k, v := p.Content[i], p.Content[i+1]
			switch k.Value {
			case "fraction":
				if err := v.Decode(&a.Fraction); err != nil {
					return &PosError{Pos: posOf(v), Msg: "shed fraction must be a number between 0 and 1, e.g. 0.5"}
				}
			case "tiers":
				if err := v.Decode(&a.Tiers); err != nil {
					return &PosError{Pos: posOf(v), Msg: "shed tiers must be a list of tier numbers, lowest priority first, e.g. [3, 2]"}
				}
			default:
				return &PosError{Pos: posOf(k), Msg: fmt.Sprintf("unknown key %q in shed (known keys: fraction, tiers)", k.Value)}
			}
		}
		return nil
	}
	return &PosError{Pos: posOf(n), Msg: fmt.Sprintf("an action is one of %s, or `shed: {fraction: 0.5, tiers: [3, 2]}`", known)}
}
