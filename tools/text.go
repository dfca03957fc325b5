package tools

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// TextFormat tells the model how to read a result's text; the server's
// instructions carry it.
const TextFormat = "Each tool result's text starts with a one-line summary. Then come the result's own fields, if it has any, " +
	"on a line of key=value fields named as in the structured content, and every record inside it (a board, a column, a card, …) " +
	"on a line of its own: its kind, then its fields, identifiers and numbers first, with the records inside it on the lines below, indented. " +
	"Fields that are empty or false are left out; a value with spaces or symbols is a JSON string, and a list is comma-separated or a JSON array."

// ResultText is a result's text content: the summary line, then the
// structured content as lines of key=value fields (TextFormat).
//
// The MCP specification says a tool that returns structured content SHOULD
// also return it serialized as JSON in a text block, because many clients
// show the model only the text. This rendering carries the same fields
// (what a client needs to chain calls: every ID, title, position and
// version) without JSON's braces, quotes around every key and value, and
// empty or false members, so that a board costs the model a fraction of
// the tokens. It is derived from the output type by reflection, so a new
// tool's text needs no code: a scalar or []string field is a key=value on
// its record's line; a struct or []struct field is one child line per
// record, whose kind is the field's `text` tag or else its JSON name made
// singular ("cards" → "card", "entries" → "entry"). Values cannot break the
// layout: a string other than a plain token (letters, digits and
// _ . / : @ + -) is a JSON string, so a title or description can never
// forge a line or a field for a reader that minds the quotes; and the
// fields shown as plain tokens (IDs, positions, versions) come first on
// their line, so that even a reader that takes the first "version=" it
// finds gets the real one. The summary is kept to one line.
func ResultText(summary string, structured any) string {
	buf := textBuffers.Get().(*[]byte)
	b := append((*buf)[:0], oneLine.Replace(summary)...)
	b = appendRecord(b, "", reflect.ValueOf(structured), -1)
	text := string(b)
	if cap(b) <= maxPooledText {
		*buf = b
		textBuffers.Put(buf)
	}
	return text
}

// oneLine keeps a summary on its line, whatever a token's subject or
// another value it names holds.
var oneLine = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\u2028", " ", "\u2029", " ")

// textBuffers keeps render buffers between answers: a full board's text
// is about 1 MB, and growing a fresh buffer to it for every answer made
// twice that in garbage, which many readers of a large public board turn
// into resident memory. Buffers past maxPooledText go back to the
// collector instead.
var textBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledText = 4 << 20

// appendRecord appends the struct v as a line of kind at depth (-1: the
// top record, whose line has no kind and is left out when it has no
// field), then its child records one level deeper (the top record's at
// depth 0).
func appendRecord(b []byte, kind string, v reflect.Value, depth int) []byte {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return b
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return b
	}
	plan := textPlanOf(v.Type())
	if depth >= 0 {
		b = append(b, '\n')
		for range depth {
			b = append(b, "  "...)
		}
		b = append(b, kind...)
	}
	wrote := false
	// Plain fields first, then those that are quoted.
	for _, plain := range []bool{true, false} {
		for _, f := range plan.fields {
			fv, err := v.FieldByIndexErr(f.index)
			if err != nil || isEmpty(fv) || isPlain(fv) != plain {
				continue // err: inside a nil embedded pointer
			}
			if depth < 0 && !wrote {
				b = append(b, '\n')
			} else {
				b = append(b, ' ')
			}
			wrote = true
			b = append(b, f.name...)
			b = append(b, '=')
			b = appendValue(b, fv)
		}
	}
	childDepth := max(depth+1, 0)
	for _, c := range plan.children {
		cv, err := v.FieldByIndexErr(c.index)
		if err != nil {
			continue
		}
		switch cv.Kind() {
		case reflect.Slice, reflect.Array:
			for i := range cv.Len() {
				b = appendRecord(b, c.kind, cv.Index(i), childDepth)
			}
		default:
			b = appendRecord(b, c.kind, cv, childDepth)
		}
	}
	return b
}

// textPlan is how a struct type is shown: its fields on its line and its
// child records, each in the order encoding/json gives them.
type textPlan struct {
	fields   []textField
	children []textField
}

// textField is one JSON member of a struct, as the text shows it.
type textField struct {
	name  string
	kind  string // a child record's kind
	index []int  // for reflect.Value.FieldByIndex
}

// textPlans remembers each type's plan, which reflect would otherwise work
// out (and allocate) again for every record of every answer; like
// encoding/json's cache of the same kind, it holds nothing but what the
// types say.
var textPlans sync.Map // reflect.Type → *textPlan

func textPlanOf(t reflect.Type) *textPlan {
	if p, ok := textPlans.Load(t); ok {
		return p.(*textPlan)
	}
	p := &textPlan{}
	addTextFields(p, t, nil)
	actual, _ := textPlans.LoadOrStore(t, p)
	return actual.(*textPlan)
}

// addTextFields adds t's JSON members to p, those of embedded structs in
// their place, as encoding/json does.
func addTextFields(p *textPlan, t reflect.Type, index []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		at := append(append([]int(nil), index...), i)
		if ft := derefType(sf.Type); sf.Anonymous && name == "" && ft.Kind() == reflect.Struct && !isScalar(ft) {
			addTextFields(p, ft, at)
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := textField{name: name, index: at}
		if !isRecord(sf.Type) {
			p.fields = append(p.fields, f)
			continue
		}
		f.kind = sf.Tag.Get("text")
		if f.kind == "" {
			f.kind = singular(name)
		}
		p.children = append(p.children, f)
	}
}

// singular is the kind of the records in a list named name: "entries" →
// "entry", "cards" → "card". A name it gets wrong ("statuses") takes a
// `text` tag.
func singular(name string) string {
	if base, ok := strings.CutSuffix(name, "ies"); ok {
		return base + "y"
	}
	return strings.TrimSuffix(name, "s")
}

// isRecord reports whether a field of type t is shown as child records: a
// struct, or a list of structs, that does not encode itself.
func isRecord(t reflect.Type) bool {
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	t = derefType(t)
	return t.Kind() == reflect.Struct && !isScalar(t)
}

// isScalar reports whether a struct type encodes itself (time.Time, for
// one), and so is a value, not a record.
func isScalar(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || p.Implements(jsonMarshaler) || t.Implements(textMarshaler) || p.Implements(textMarshaler)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// isPlain reports whether a field's value is shown unquoted: a number, a
// bool, a plain token or a list of them.
func isPlain(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return isToken(v.String())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return false
		}
		for i := range v.Len() {
			if !isToken(v.Index(i).String()) {
				return false
			}
		}
		return true
	}
	return false
}

// isEmpty reports whether a field is left out: an empty string or list,
// false, or nil. Numbers are always shown: a position or count of 0 is
// information.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// appendValue appends one field's value.
func appendValue(b []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.String:
		return appendString(b, v.String())
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			return appendStrings(b, v)
		}
	}
	// Anything else (a float, a map) as JSON, which is one line.
	j, err := json.Marshal(v.Interface())
	if err != nil {
		return append(b, `""`...)
	}
	return append(b, j...)
}

// appendString appends a plain token as it is and anything else as a JSON
// string.
func appendString(b []byte, s string) []byte {
	if isToken(s) {
		return append(b, s...)
	}
	return appendJSONString(b, s)
}

// appendStrings appends a list of plain tokens comma-separated, and any
// other list as a JSON array.
func appendStrings(b []byte, v reflect.Value) []byte {
	tokens := true
	for i := range v.Len() {
		tokens = tokens && isToken(v.Index(i).String())
	}
	if !tokens {
		b = append(b, '[')
	}
	for i := range v.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		if tokens {
			b = append(b, v.Index(i).String()...)
		} else {
			b = appendJSONString(b, v.Index(i).String())
		}
	}
	if !tokens {
		b = append(b, ']')
	}
	return b
}

// appendJSONString appends s as a JSON string (RFC 8259), as
// encoding/json writes it but without escaping <, > and & (the text is not
// HTML, and \u003c costs a model more than <): quotes, backslashes and
// control characters escaped, U+2028 and U+2029 too (line separators to
// some readers), invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\\ufffd"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// isToken reports whether s is shown without quotes: not empty, and only
// letters, digits and _ . / : @ + -, which cannot be taken for a quote, a
// list separator, a field or a line.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == '/' || c == ':' || c == '@' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return true
}
