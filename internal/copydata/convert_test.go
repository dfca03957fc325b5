package copydata

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestConverters pins each conversion rule: what SQLite gives (nil,
// int64, float64, string or []byte) and what its PostgreSQL column type
// takes.
func TestConverters(t *testing.T) {
	tests := []struct {
		typ     string
		in      any
		want    any
		cleaned bool
		err     string // in the error; "" for none
	}{
		{typ: "int8", in: int64(-1 << 62), want: int64(-1 << 62)},
		{typ: "int8", in: nil, want: nil},
		{typ: "int4", in: int64(1<<31 - 1), want: int64(1<<31 - 1)},
		{typ: "int4", in: int64(1 << 31), err: "out of the PostgreSQL column's range"},
		{typ: "int2", in: int64(-1 << 15), want: int64(-1 << 15)},
		{typ: "int2", in: int64(-1<<15 - 1), err: "out of the PostgreSQL column's range"},
		{typ: "int8", in: 1.5, err: "SQLite holds a REAL where the PostgreSQL column needs an INTEGER"},
		{typ: "int8", in: "1", err: "SQLite holds TEXT"},

		// Booleans are 0 and 1 in SQLite's STRICT tables.
		{typ: "bool", in: int64(0), want: false},
		{typ: "bool", in: int64(1), want: true},
		{typ: "bool", in: nil, want: nil},
		{typ: "bool", in: int64(2), err: "other than 0 or 1"},
		{typ: "bool", in: "true", err: "needs 0 or 1"},

		{typ: "text", in: "plain ✓", want: "plain ✓"},
		{typ: "text", in: "", want: ""},
		{typ: "varchar", in: "v", want: "v"},
		// PostgreSQL's text holds neither NUL nor invalid UTF-8.
		{typ: "text", in: "a\x00b", want: "a\uFFFDb", cleaned: true},
		{typ: "text", in: "a\xffb", want: "a\uFFFDb", cleaned: true},
		{typ: "text", in: []byte("x"), err: "SQLite holds a BLOB where the PostgreSQL column needs TEXT"},

		{typ: "bytea", in: []byte{0, 0xff}, want: []byte{0, 0xff}},
		// An empty BLOB comes as a nil []byte, which pgx would send as
		// NULL.
		{typ: "bytea", in: []byte(nil), want: []byte{}},
		{typ: "bytea", in: nil, want: nil},
		{typ: "bytea", in: "x", err: "needs a BLOB"},

		// Labels and activity IDs: JSON text in SQLite, text[] in
		// PostgreSQL.
		{typ: "_text", in: `["a","b ✓"]`, want: []string{"a", "b ✓"}},
		{typ: "_text", in: `[]`, want: []string{}},
		{typ: "_text", in: `["\u0000"]`, want: []string{"\uFFFD"}, cleaned: true},
		{typ: "_text", in: nil, want: nil},
		{typ: "_text", in: `null`, err: "not a JSON array"},
		{typ: "_text", in: `{"a":1}`, err: "not a JSON array"},
		{typ: "_text", in: `["a",null]`, err: "element 1 of the JSON array is not a string"},
		{typ: "_text", in: `["a",2]`, err: "element 1 of the JSON array is not a string"},
		{typ: "_text", in: int64(1), err: "needs TEXT holding a JSON array"},
	}
	for _, tt := range tests {
		got, cleaned, err := converters[tt.typ](tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s from %#v: error %v, want one saying %q", tt.typ, tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s from %#v: %v", tt.typ, tt.in, err)
		default:
			if diff := cmp.Diff(tt.want, got); diff != "" || cleaned != tt.cleaned {
				t.Errorf("%s from %#v: cleaned %v, want %v; (-want +got):\n%s", tt.typ, tt.in, cleaned, tt.cleaned, diff)
			}
		}
	}
}

// TestConversionErrorsHideTheValue: a value that does not convert may be
// a secret (a key, a hash); the error says what is wrong with it, never
// what it is.
func TestConversionErrorsHideTheValue(t *testing.T) {
	const secret = "s3cret-value"
	for typ, in := range map[string]any{"int8": secret, "bool": secret, "bytea": secret, "_text": secret, "text": []byte(secret)} {
		if _, _, err := converters[typ](in); err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error %v; want one without the value", typ, err)
		}
	}
	err := error(&ConversionError{Table: "users", Column: "password_hash", Row: 3, Reason: "why"})
	if got, want := err.Error(), "users.password_hash, row 3 in SQLite's order: why"; got != want {
		t.Errorf("ConversionError = %q, want %q", got, want)
	}
}

// TestDigest: the digest of a table is the same whatever the order of its
// rows, and whether the values are those sent to PostgreSQL or those pgx
// reads back (int32 for integer, []any for text[]); any difference in a
// value changes it.
func TestDigest(t *testing.T) {
	sum := func(rows ...[]any) digest {
		t.Helper()
		var d digest
		for _, r := range rows {
			if err := d.add(r); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	sent := [][]any{
		{int64(1), "a", []string{"x", "y"}, true, []byte{1}, nil},
		{int64(2), "b", []string{}, false, []byte{}, nil},
	}
	readBack := [][]any{
		{int32(2), "b", []any{}, false, []byte{}, nil},
		{int32(1), "a", []any{"x", "y"}, true, []byte{1}, nil},
	}
	if sum(sent...) != sum(readBack...) {
		t.Error("the same rows in another order and pgx's types give another digest")
	}
	for _, changed := range [][]any{
		{int64(1), "a", []string{"x", "y"}, false, []byte{1}, nil},
		{int64(1), "a", []string{"xy"}, true, []byte{1}, nil},
		{int64(1), "a", []string{"x", "y"}, true, []byte{1}, ""},
		{int64(1), "a", []string{"x", "y"}, true, "\x01", nil},
	} {
		if sum(sent[1], changed) == sum(sent...) {
			t.Errorf("row %v gives the digest of %v", changed, sent[0])
		}
	}
	var d digest
	if err := d.add([]any{1.5}); err == nil {
		t.Error("a float64 was digested; the verification should refuse what it does not compare")
	}
}

// TestParentsFirst: tables come after those their foreign keys reference,
// otherwise by name; a cycle is refused.
func TestParentsFirst(t *testing.T) {
	tables := func(parents map[string][]string) map[string]*targetTable {
		m := map[string]*targetTable{}
		for name, ps := range parents {
			m[name] = &targetTable{name: name, parents: ps}
		}
		return m
	}
	ordered, err := parentsFirst(tables(map[string][]string{
		"cards": {"boards", "columns"}, "columns": {"boards"}, "boards": nil, "activity": nil,
		"grants": {"users"}, "users": nil, "elsewhere": {"not_here"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tbl := range ordered {
		names = append(names, tbl.name)
	}
	want := []string{"activity", "boards", "columns", "elsewhere", "users", "cards", "grants"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if _, err := parentsFirst(tables(map[string][]string{"a": {"b"}, "b": {"a"}, "c": nil})); err == nil || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("a cycle: %v, want an error naming a and b", err)
	}
}
