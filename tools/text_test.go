package tools

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestResultTextShape pins the text of a small board, so that a change of
// the format is a deliberate one (TextFormat, the README and the server's
// instructions describe it).
func TestResultTextShape(t *testing.T) {
	board := BoardOutput{
		ID: "b_1", Title: "Sprint 12", Visibility: "private", Owned: true, Version: 7, CardCount: 2,
		UpdatedAt: "2026-12-03T07:00:00Z",
		Columns: []ColumnOutput{
			{ID: "c_1", Name: "To do", CardCount: 2, Cards: []CardSummaryOutput{
				{ID: "k_1", Title: "Write tests", Labels: []string{"bug", "p1"}, Position: 0, Version: 3},
				{ID: "k_2", Title: `Say "hi" id=k_9 version=99`, Description: "Line one\nline two…", DescriptionTruncated: true, Labels: []string{"needs review"}, Position: 1, Version: 1},
			}},
			{ID: "c_2", Name: "Done", Cards: []CardSummaryOutput{}},
		},
	}
	want := `Board 'Sprint 12' — 2 columns, 2 cards.
id=b_1 visibility=private owned=true version=7 card_count=2 updated_at=2026-12-03T07:00:00Z title="Sprint 12"
column id=c_1 card_count=2 name="To do"
  card id=k_1 labels=bug,p1 position=0 version=3 title="Write tests"
  card id=k_2 description_truncated=true position=1 version=1 title="Say \"hi\" id=k_9 version=99" description="Line one\nline two…" labels=["needs review"]
column id=c_2 name=Done card_count=0`
	if diff := cmp.Diff(want, ResultText("Board 'Sprint 12' — 2 columns, 2 cards.", board)); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

// TestResultTextRoundTrip: the text carries every field of the structured
// content, whatever the values hold. Each value is rendered, read back by
// parseResultText (which knows only TextFormat) and compared with the
// original; empty and false fields, which the text leaves out, compare
// equal to absent ones.
func TestResultTextRoundTrip(t *testing.T) {
	hostile := []string{
		"", "plain", "two words", `"quoted"`, `a="b" c=d`, "line\nbreak", "tab\there", "\u2028sep", "ünïcödé…",
		"[not, a list]", "comma,inside", "back\\slash", "<b>&amp;</b>", "  padded  ", "=", "\"", "#", "true", "12",
		"\x01ctl\x1f", "del\x7f", "emoji 🧪", "\u2029",
	}
	var values []any
	for i, s := range hostile {
		values = append(values,
			CardSummaryOutput{ID: "k_" + strconv.Itoa(i), Title: s, Description: s, DescriptionTruncated: i%2 == 0, Labels: []string{s, "x"}, Position: i, Version: int64(i)},
			cardOutput{ID: "k_1", BoardID: "b_1", ColumnID: "c_1", ColumnName: s, Title: s, Description: s, Labels: []string{s}, Position: i},
			listBoardsOutput{Boards: []boardSummaryOutput{{ID: "b_1", Title: s}, {ID: "b_2", Title: s + s, Owned: true}}, NextCursor: s},
			searchCardsOutput{Cards: []foundCardOutput{{CardSummaryOutput: CardSummaryOutput{ID: "k_1", Title: s}, BoardID: "b_1", ColumnName: s}}},
			moveCardOutput{Card: cardOutput{ID: "k_1", Title: s, Labels: []string{}}, FromColumnID: "c_1", FromPosition: i, Moved: i%2 == 1},
			listActivityOutput{Activity: []activityOutput{{At: "2026-12-03T07:00:00Z", Tool: "add_card", Outcome: "ok", Summary: s, IDs: []string{"b_1", "k_1"}}}},
			whoamiOutput{Authenticated: true, Subject: s, Scopes: []string{"kanban.read", s}},
		)
	}
	values = append(values, BoardOutput{ID: "b_1", Columns: []ColumnOutput{{ID: "c_1", Cards: []CardSummaryOutput{{ID: "k_1"}}}, {ID: "c_2"}}})
	for _, v := range values {
		text := ResultText("Summary.", v)
		got := reflect.New(reflect.TypeOf(v))
		summary, err := parseResultText(text, got.Interface())
		if err != nil {
			t.Errorf("%T: the text does not parse: %v\n%s", v, err, text)
			continue
		}
		if summary != "Summary." {
			t.Errorf("%T: summary line = %q", v, summary)
		}
		if err := checkTextNames(text, v); err != nil {
			t.Errorf("%T: %v", v, err)
		}
		if diff := cmp.Diff(v, got.Elem().Interface(), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%T: read back from its text (-want +got):\n%s\ntext:\n%s", v, diff, text)
		}
	}
}

// TestResultTextOtherShapes: what no output type uses today but a new
// tool's may: a time, an embedded pointer, a list whose name is not a
// plain plural, a map; and a summary that would break its line.
func TestResultTextOtherShapes(t *testing.T) {
	type entry struct {
		At   time.Time `json:"at"`
		Note string    `json:"note"`
	}
	type Inner struct {
		Owner string `json:"owner"`
	}
	type shapes struct {
		*Inner
		Entries []entry           `json:"entries"`
		Tags    map[string]string `json:"tags,omitempty"`
		Ratio   float64           `json:"ratio"`
	}
	at := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	v := shapes{Inner: &Inner{Owner: "alice"}, Entries: []entry{{At: at, Note: "first"}}, Tags: map[string]string{"k": "v w"}, Ratio: 0.5}
	want := `Moved card 'x' line two.
owner=alice tags={"k":"v w"} ratio=0.5
entry note=first at="2026-12-03T07:00:00Z"`
	text := ResultText("Moved card 'x'\nline two.", v)
	if diff := cmp.Diff(want, text); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	got := reflect.New(reflect.TypeOf(v))
	got.Elem().Field(0).Set(reflect.ValueOf(&Inner{}))
	if _, err := parseResultText(text, got.Interface()); err != nil {
		t.Fatalf("the text does not parse: %v", err)
	}
	if diff := cmp.Diff(v, got.Elem().Interface()); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// A nil embedded pointer has no fields to show.
	if got := ResultText("S.", shapes{}); got != "S.\nratio=0" {
		t.Errorf("with a nil embedded pointer: %q", got)
	}
}

// TestAppendJSONString: strings are written as encoding/json writes them
// (less its HTML escaping), invalid UTF-8 included, so that any JSON
// reader takes them back.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `"q" \ /`, "\n\r\t\b\f\x00\x1f\x7f", "\u2028\u2029", "ünï 🧪", "bad\xff\xfeutf8", "\xe2\x82", "<&>"} {
		var want strings.Builder
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strings.TrimSuffix(want.String(), "\n"), string(appendJSONString(nil, s))); diff != "" {
			t.Errorf("appendJSONString(%q) (-encoding/json +got):\n%s", s, diff)
		}
	}
}

// checkTextNames checks that every key in text is a member name of v's
// JSON encoding, so that the renderer cannot name a field in a way that
// the structured content does not (the parser above reads names through
// the renderer's own plan, which would agree with it).
func checkTextNames(text string, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	keys := regexp.MustCompile(`(?:^|\s)([^\s="\[]+)=`)
	for _, line := range strings.Split(text, "\n")[1:] {
		// Leave quoted values out: their text may hold anything.
		unquoted := regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(line, `""`)
		for _, m := range keys.FindAllStringSubmatch(unquoted, -1) {
			if !strings.Contains(string(j), `"`+m[1]+`":`) {
				return fmt.Errorf("the text names a field %q that the JSON encoding has not: %q", m[1], line)
			}
		}
	}
	return nil
}

// parseResultText reads a ResultText back into into (a pointer to the
// structured content's type), as TextFormat describes it, and returns the
// summary line. It is strict: a line or field it cannot place is an error.
func parseResultText(text string, into any) (summary string, err error) {
	lines := strings.Split(text, "\n")
	v := reflect.ValueOf(into).Elem()
	rest := lines[1:]
	i := 0
	if len(rest) > 0 && !strings.HasPrefix(rest[0], " ") {
		first, _, _ := strings.Cut(rest[0], " ")
		if strings.Contains(first, "=") {
			if err := setTextFields(v, rest[0]); err != nil {
				return "", fmt.Errorf("line 2: %w", err)
			}
			i = 1
		}
	}
	i, err = parseTextChildren(v, rest, i, 0)
	if err != nil {
		return "", err
	}
	if i != len(rest) {
		return "", fmt.Errorf("line %d is not a record of %s: %q", i+2, v.Type(), rest[i])
	}
	return lines[0], nil
}

// parseTextChildren reads the child records of v at depth from lines[i:],
// and returns the index of the first line that is not one.
func parseTextChildren(v reflect.Value, lines []string, i, depth int) (int, error) {
	for i < len(lines) {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		if indent%2 != 0 || indent/2 > depth {
			return i, fmt.Errorf("line %d is indented by %d: %q", i+2, indent, line)
		}
		if indent/2 < depth {
			return i, nil
		}
		kind, fieldText, _ := strings.Cut(trimmed, " ")
		var target reflect.Value
		for _, f := range textPlanOf(v.Type()).children {
			if f.kind == kind {
				target = v.FieldByIndex(f.index)
			}
		}
		if !target.IsValid() {
			return i, fmt.Errorf("line %d: %s has no %q records", i+2, v.Type(), kind)
		}
		rec := target
		if target.Kind() == reflect.Slice {
			rec = reflect.New(target.Type().Elem()).Elem()
		}
		if err := setTextFields(rec, fieldText); err != nil {
			return i, fmt.Errorf("line %d: %w", i+2, err)
		}
		next, err := parseTextChildren(rec, lines, i+1, depth+1)
		if err != nil {
			return next, err
		}
		if target.Kind() == reflect.Slice {
			target.Set(reflect.Append(target, rec))
		}
		i = next
	}
	return i, nil
}

// setTextFields sets v's fields from a line's key=value text.
func setTextFields(v reflect.Value, s string) error {
	seen := map[string]bool{}
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, ` "`) {
			return fmt.Errorf("%q is not key=value", s)
		}
		n := textValueLen(rest)
		raw := rest[:n]
		if raw == "" {
			return fmt.Errorf("%s has no value", key)
		}
		s = rest[n:]
		if s != "" && !strings.HasPrefix(s, " ") {
			return fmt.Errorf("%s=%s runs into %q", key, raw, s)
		}
		s = strings.TrimPrefix(s, " ")
		if seen[key] {
			return fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		var field reflect.Value
		for _, f := range textPlanOf(v.Type()).fields {
			if f.name == key {
				field = v.FieldByIndex(f.index)
			}
		}
		if !field.IsValid() {
			return fmt.Errorf("%s has no field %q", v.Type(), key)
		}
		if err := setTextValue(field, raw); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// textValueLen is the length of the value at the start of s: a JSON string
// or array, or a token up to the next space.
func textValueLen(s string) int {
	inString, escaped, nesting := false, false, 0
	for i := range len(s) {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
			if !inString && nesting == 0 {
				return i + 1
			}
		case inString:
		case c == '[' || c == '{':
			nesting++
		case c == ']' || c == '}':
			nesting--
			if nesting == 0 {
				return i + 1
			}
		case c == ' ' && nesting == 0:
			return i
		}
	}
	return len(s)
}

// setTextValue sets one field from its text.
func setTextValue(field reflect.Value, raw string) error {
	quoted := strings.HasPrefix(raw, `"`) || strings.HasPrefix(raw, "[") || strings.HasPrefix(raw, "{")
	if !quoted && field.Kind() != reflect.Float64 {
		for _, token := range strings.Split(raw, ",") {
			if !isToken(token) {
				return fmt.Errorf("%q is shown unquoted but is not a plain token", raw)
			}
		}
	}
	if isScalar(field.Type()) || field.Kind() == reflect.Pointer || field.Kind() == reflect.Map || field.Kind() == reflect.Float64 {
		return json.Unmarshal([]byte(raw), field.Addr().Interface())
	}
	switch field.Kind() {
	case reflect.String:
		if quoted {
			var s string
			if err := json.Unmarshal([]byte(raw), &s); err != nil {
				return err
			}
			field.SetString(s)
			return nil
		}
		field.SetString(raw)
	case reflect.Bool:
		if raw != "true" {
			return fmt.Errorf("a bool is shown only when true, not as %q", raw)
		}
		field.SetBool(true)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return err
		}
		field.SetInt(n)
	case reflect.Slice:
		var list []string
		if quoted {
			if err := json.Unmarshal([]byte(raw), &list); err != nil {
				return err
			}
		} else {
			list = strings.Split(raw, ",")
		}
		field.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("no reading for a %s", field.Type())
	}
	return nil
}
