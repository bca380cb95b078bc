package rulegen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// A direct YAML emitter for rule files. yaml.v3's encoder reflects over every value and cost
// most of the time `andon generate` took; rule files only hold groups, rules, durations and
// string maps, so they are written here, block style, keys in the order of rulefmt's structs
// and map keys sorted. The tests read every output back with yaml.v3 and rulefmt.Parse.

type emitter struct {
	b     []byte
	item  bool   // the next key opens a sequence item: "- " instead of its last two spaces of indent
	group string // the group and rule being written, for errors
	rule  *rulefmt.Rule
	keys  []string // scratch for sorting map keys
	err   error
}

func newEmitter(head string, size int) *emitter {
	e := &emitter{b: make([]byte, 0, len(head)+size)}
	e.b = append(e.b, head...)
	return e
}

func (e *emitter) bytes() ([]byte, error) { return e.b, e.err }

func (e *emitter) indent(n int) {
	if e.item {
		n -= 2
	}
	for range n {
		e.b = append(e.b, ' ')
	}
	if e.item {
		e.b = append(e.b, "- "...)
		e.item = false
	}
}

// key writes `key:` at indent n; the caller writes the value or a newline.
func (e *emitter) key(n int, k string) {
	e.indent(n)
	start := len(e.b)
	e.b = e.appendKey(e.b, k)
	if len(e.b)-start > maxImplicitKey { // bytes ≥ characters, so this errs on the safe side
		written := append([]byte(nil), e.b[start:]...)
		e.b = append(append(append(e.b[:start], "? "...), written...), '\n')
		for range n {
			e.b = append(e.b, ' ')
		}
	}
	e.b = append(e.b, ':')
}

// raw writes a value known to read back as itself unquoted (durations, integers).
func (e *emitter) raw(n int, k, v string) {
	e.key(n, k)
	e.b = append(e.b, ' ')
	e.b = append(e.b, v...)
	e.b = append(e.b, '\n')
}

func (e *emitter) str(n int, k, v string) {
	e.key(n, k)
	e.b = e.appendValue(e.b, n, k, v)
}

func (e *emitter) duration(n int, k string, d model.Duration) {
	if d != 0 {
		e.raw(n, k, d.String())
	}
}

// strMap writes a map of strings with sorted keys; an empty map is left out (omitempty).
func (e *emitter) strMap(n int, k string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	e.key(n, k)
	e.b = append(e.b, '\n')
	e.keys = e.keys[:0]
	for mk := range m {
		e.keys = append(e.keys, mk)
	}
	slices.Sort(e.keys)
	for _, mk := range e.keys {
		e.str(n+2, mk, m[mk])
	}
}

// seq opens a sequence of length items under key k; an empty one is written `[]` and false
// returned.
func (e *emitter) seq(n int, k string, length int) bool {
	if length == 0 {
		e.raw(n, k, "[]")
		return false
	}
	e.key(n, k)
	e.b = append(e.b, '\n')
	return true
}

// groups writes `groups:` and its rule groups at indent n.
func (e *emitter) groups(n int, gs []rulefmt.RuleGroup) {
	if !e.seq(n, "groups", len(gs)) {
		return
	}
	for i := range gs {
		g := &gs[i]
		e.group, e.rule = g.Name, nil
		e.item = true
		e.str(n+4, "name", g.Name)
		e.duration(n+4, "interval", g.Interval)
		if g.QueryOffset != nil {
			e.raw(n+4, "query_offset", g.QueryOffset.String())
		}
		if g.Limit != 0 {
			e.raw(n+4, "limit", strconv.Itoa(g.Limit))
		}
		e.rules(n+4, g.Rules)
		e.strMap(n+4, "labels", g.Labels)
	}
}

func (e *emitter) rules(n int, rs []rulefmt.Rule) {
	if !e.seq(n, "rules", len(rs)) {
		return
	}
	for i := range rs {
		r := &rs[i]
		e.rule = r
		e.item = true
		if r.Record != "" {
			e.str(n+4, "record", r.Record)
		}
		if r.Alert != "" {
			e.str(n+4, "alert", r.Alert)
		}
		e.str(n+4, "expr", r.Expr)
		e.duration(n+4, "for", r.For)
		e.duration(n+4, "keep_firing_for", r.KeepFiringFor)
		e.strMap(n+4, "labels", r.Labels)
		e.strMap(n+4, "annotations", r.Annotations)
	}
}

func (e *emitter) fail(k, format string, args ...any) {
	if e.err != nil {
		return
	}
	where := "group " + strconv.Quote(e.group)
	if e.rule != nil {
		where += ", rule " + strconv.Quote(e.rule.Record+e.rule.Alert)
	}
	e.err = fmt.Errorf("%s, %q: %s", where, k, fmt.Sprintf(format, args...))
}

// maxImplicitKey: YAML reads a key without the explicit "? " indicator only if it ends within
// 1024 characters; longer ones are written explicit.
const maxImplicitKey = 1024

func (e *emitter) appendKey(b []byte, k string) []byte {
	switch scalarStyle(k, true) {
	case stylePlain:
		return append(b, k...)
	case styleSingle:
		return appendSingleQuoted(b, k)
	case styleInvalid:
		e.fail(k, "key %q is not valid UTF-8", k)
	}
	return appendDoubleQuoted(b, k)
}

// appendValue appends " value\n" for a mapping value at indent n.
func (e *emitter) appendValue(b []byte, n int, k, v string) []byte {
	b = append(b, ' ')
	switch scalarStyle(v, false) {
	case stylePlain:
		b = append(b, v...)
	case styleSingle:
		b = appendSingleQuoted(b, v)
	case styleLiteral:
		return appendLiteral(b, n+2, v)
	case styleInvalid:
		e.fail(k, "value %q is not valid UTF-8", v)
		fallthrough
	default:
		b = appendDoubleQuoted(b, v)
	}
	return append(b, '\n')
}

type style int

const (
	stylePlain   style = iota // as it is
	styleSingle               // 'single-quoted', quotes doubled
	styleDouble               // "double-quoted" with escapes
	styleLiteral              // |- literal block (values only)
	styleInvalid              // not UTF-8: no YAML string holds it
)

// plainStart: characters a plain scalar may not start with (indicators, white space).
var plainStart = func() (t [256]bool) {
	for _, c := range []byte("-?:,[]{}#&*!|>'\"%@`~ \t") {
		t[c] = true
	}
	return t
}()

// scalarStyle picks how s is written, in one pass over it: plain where YAML reads it back as
// the same string; single quotes where plain would be misread; a literal block for multi-line
// text; double quotes with escapes for the rest, and for strings YAML would resolve to a
// number, boolean or null (as yaml.v3 writes those).
func scalarStyle(s string, key bool) style {
	if s == "" {
		return styleDouble
	}
	printable, lines, plainOK := true, false, !plainStart[s[0]]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ':
				if i > 0 && s[i-1] == ':' || i+1 < len(s) && s[i+1] == '#' {
					plainOK = false
				}
			case c == '\n':
				lines = true
			case c < ' ' || c == 0x7f:
				printable = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return styleInvalid
		}
		if !unicode.IsPrint(r) {
			printable = false
		}
		i += size
	}
	switch last := s[len(s)-1]; {
	case !printable:
		return styleDouble
	case lines:
		// A literal block takes the first line's leading spaces for indentation.
		if body := strings.TrimLeft(s, "\n"); !key && body != "" && body[0] != ' ' {
			return styleLiteral
		}
		return styleDouble
	case resolvesToNonString(s):
		return styleDouble
	case plainOK && last != ' ' && last != ':':
		return stylePlain
	}
	return styleSingle
}

// reserved: words YAML 1.1 or 1.2 reads as booleans or null, in any case, and the merge key.
var reserved = []string{"null", "true", "false", "yes", "no", "on", "off", "y", "n", "<<"}

// resolvesToNonString: unquoted, YAML (1.1 or 1.2) could read s as a number, boolean, null,
// timestamp or merge key. Numbers, timestamps, .inf and .nan start with one of "0-9+-." and
// hold nothing but the characters of numberish.
func resolvesToNonString(s string) bool {
	if s == "" || s == "~" {
		return true
	}
	if strings.IndexByte("0123456789+-.", s[0]) >= 0 {
		const numberish = "0123456789abcdefABCDEF_+-.:xXoObBtTzZiInN "
		for i := 0; i < len(s); i++ {
			if strings.IndexByte(numberish, s[i]) < 0 {
				return false
			}
		}
		return true
	}
	if len(s) <= len("false") {
		for _, w := range reserved {
			if strings.EqualFold(s, w) {
				return true
			}
		}
	}
	return false
}

// appendLiteral writes s as a literal block scalar with content at indent n; the chomping
// indicator keeps exactly s's trailing line breaks.
func appendLiteral(b []byte, n int, s string) []byte {
	body := strings.TrimRight(s, "\n")
	switch len(s) - len(body) {
	case 0:
		b = append(b, "|-\n"...)
	case 1:
		b = append(b, "|\n"...)
	default:
		b = append(b, "|+\n"...)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if line != "" {
			for range n {
				b = append(b, ' ')
			}
			b = append(b, line...)
		}
		b = append(b, '\n')
	}
	for range len(s) - len(body) - 1 {
		b = append(b, '\n')
	}
	return b
}

func appendSingleQuoted(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b = append(b, '\'')
		}
		b = append(b, s[i])
	}
	return append(b, '\'')
}

// appendDoubleQuoted escapes what YAML's double-quoted style must not hold raw: quotes,
// backslashes, control and other non-printable characters (line and paragraph separators
// included, which YAML would fold).
func appendDoubleQuoted(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == ' ' || unicode.IsPrint(r):
			b = utf8.AppendRune(b, r)
		case r <= 0xFF:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xF])
		case r <= 0xFFFF:
			b = append(b, '\\', 'u', hex[r>>12], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF])
		default:
			b = append(b, '\\', 'U')
			for shift := 28; shift >= 0; shift -= 4 {
				b = append(b, hex[r>>shift&0xF])
			}
		}
	}
	return append(b, '"')
}
