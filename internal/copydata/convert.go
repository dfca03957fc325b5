package copydata

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// converter turns a value as SQLite gives it (nil, int64, float64, string
// or []byte) into the Go value that its PostgreSQL column takes. cleaned
// says that text had to be made storable. Its errors say what is wrong
// with the value, never what the value is.
type converter func(v any) (out any, cleaned bool, err error)

// converters by PostgreSQL type (pg_type.typname, information_schema's
// udt_name). A type that is not here fails the copy before it starts
// (plan), so that a migration to a new type comes with its conversion.
var converters = map[string]converter{
	"int2":    nullable(integer(math.MinInt16, math.MaxInt16)),
	"int4":    nullable(integer(math.MinInt32, math.MaxInt32)),
	"int8":    nullable(integer(math.MinInt64, math.MaxInt64)),
	"bool":    nullable(boolean),
	"text":    nullable(text),
	"varchar": nullable(text),
	"bytea":   nullable(bytes),
	"_text":   nullable(textArray),
}

// nullable passes NULL through conv: NULL stays NULL whatever the type,
// and PostgreSQL's NOT NULL constraints then hold as SQLite's did.
func nullable(conv converter) converter {
	return func(v any) (any, bool, error) {
		if v == nil {
			return nil, false, nil
		}
		return conv(v)
	}
}

// integer takes SQLite's INTEGER within [lo, hi].
func integer(lo, hi int64) converter {
	return func(v any) (any, bool, error) {
		i, ok := v.(int64)
		switch {
		case !ok:
			return nil, false, mismatch(v, "an INTEGER")
		case i < lo || i > hi:
			return nil, false, fmt.Errorf("the integer is out of the PostgreSQL column's range [%d, %d]", lo, hi)
		}
		return i, false, nil
	}
}

// boolean takes SQLite's 0 and 1, the booleans of its STRICT tables.
func boolean(v any) (any, bool, error) {
	i, ok := v.(int64)
	switch {
	case !ok:
		return nil, false, mismatch(v, "0 or 1")
	case i != 0 && i != 1:
		return nil, false, errors.New("a boolean column holds an integer other than 0 or 1")
	}
	return i == 1, false, nil
}

// text takes SQLite's TEXT, made storable (see clean).
func text(v any) (any, bool, error) {
	s, ok := v.(string)
	if !ok {
		return nil, false, mismatch(v, "TEXT")
	}
	s, cleaned := clean(s)
	return s, cleaned, nil
}

// bytes takes SQLite's BLOB. An empty BLOB arrives as a nil []byte, which
// pgx would send as NULL: it is sent as an empty bytea instead.
func bytes(v any) (any, bool, error) {
	b, ok := v.([]byte)
	switch {
	case !ok:
		return nil, false, mismatch(v, "a BLOB")
	case b == nil:
		return []byte{}, false, nil
	}
	return b, false, nil
}

// textArray takes a JSON array of strings in SQLite's TEXT, as the store
// keeps labels and activity IDs there, for a PostgreSQL text[]. Each
// element is made storable (see clean); a null or another type of element
// has no place in text[] (the PostgreSQL schema refuses NULL elements).
func textArray(v any) (any, bool, error) {
	s, ok := v.(string)
	if !ok {
		return nil, false, mismatch(v, "TEXT holding a JSON array")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil || raw == nil {
		return nil, false, errors.New("the TEXT is not a JSON array, which a text[] column needs")
	}
	out := make([]string, len(raw))
	anyCleaned := false
	for i, r := range raw {
		var e *string
		if err := json.Unmarshal(r, &e); err != nil || e == nil {
			return nil, false, fmt.Errorf("element %d of the JSON array is not a string, which a text[] column needs", i)
		}
		var cleaned bool
		out[i], cleaned = clean(*e)
		anyCleaned = anyCleaned || cleaned
	}
	return out, anyCleaned, nil
}

// clean makes s storable in PostgreSQL's text, which holds neither NUL
// nor invalid UTF-8 (SQLite's TEXT may): such bytes become U+FFFD, as the
// PostgreSQL store cleans free text it is given.
func clean(s string) (string, bool) {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s, false
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD"), true
}

// mismatch words a value of the wrong SQLite type, by type alone.
func mismatch(v any, want string) error {
	got := fmt.Sprintf("a Go %T", v)
	switch v.(type) {
	case int64:
		got = "an INTEGER"
	case float64:
		got = "a REAL"
	case string:
		got = "TEXT"
	case []byte:
		got = "a BLOB"
	}
	return fmt.Errorf("SQLite holds %s where the PostgreSQL column needs %s", got, want)
}

// digest sums the rows of a table, in any order: the SHA-256 of each row's
// canonical encoding, added up (128 bits, modulo 2^64 per half). The same
// multiset of rows gives the same digest whether the rows are the values
// sent to PostgreSQL or those read back from it.
type digest struct {
	lo, hi uint64
	n      int64
}

// add adds one row. PostgreSQL's values are normalised to what the
// converters produce: any integer is an int64, and a text[] that pgx
// reads as []any is a []string.
func (d *digest) add(row []any) error {
	var b []byte
	for _, v := range row {
		switch v := v.(type) {
		case nil:
			b = append(b, 0)
		case int16:
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(v))
		case int32:
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(v))
		case int64:
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(v))
		case bool:
			if v {
				b = append(b, 2, 1)
			} else {
				b = append(b, 2, 0)
			}
		case string:
			b = appendString(append(b, 3), v)
		case []byte:
			b = appendString(append(b, 4), string(v))
		case []string:
			b = binary.AppendUvarint(append(b, 5), uint64(len(v)))
			for _, s := range v {
				b = appendString(b, s)
			}
		case []any:
			b = binary.AppendUvarint(append(b, 5), uint64(len(v)))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("a text[] read back with a %T element", e)
				}
				b = appendString(b, s)
			}
		default:
			return fmt.Errorf("a value of Go type %T, which the verification does not compare", v)
		}
	}
	sum := sha256.Sum256(b)
	d.lo += binary.BigEndian.Uint64(sum[:8])
	d.hi += binary.BigEndian.Uint64(sum[8:16])
	d.n++
	return nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}
