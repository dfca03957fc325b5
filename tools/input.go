package tools

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// A tool's input schema is derived from its argument struct, the one its
// handler takes through Bound, so that it is written once. Each field
// declares its argument with tags:
//
//	json:"card_id"           the argument's name
//	arg:"card-id,required"   its kind (see argKindOf), then options:
//	                         required, min=N
//	desc:"card to move"      its description (an ID kind words it as
//	                         "ID of the card to move (c_…)"); optional for
//	                         the kinds that have their own
//
// The field's Go type must fit the kind (string or *string for a string,
// int, int64 or a pointer to one for an integer, bool, []string or
// *[]string for an array). ID kinds are also what the audit trail keeps of
// a refused call, and Bound checks their form before the handler runs.

// argKind is a kind of argument: its JSON type and what every tool says
// about it.
type argKind struct {
	json string // "string", "integer", "boolean" or "array"
	// idPrefix is the prefix of an ID kind's values; "" for other kinds.
	idPrefix string
	// defaultDesc describes the argument when the field has no desc tag.
	defaultDesc string
	opts        []mcp.PropertyOption
}

// argKindOf returns the kind named in an arg tag.
func argKindOf(name string) (argKind, bool) {
	id := func(prefix string) argKind {
		return argKind{json: "string", idPrefix: prefix, opts: []mcp.PropertyOption{mcp.MaxLength(64)}}
	}
	strings1 := func(maxLen, maxItems int) []mcp.PropertyOption {
		return []mcp.PropertyOption{mcp.WithStringItems(mcp.MinLength(1), mcp.MaxLength(maxLen)), mcp.MaxItems(maxItems)}
	}
	switch name {
	case "board-id":
		return id(store.BoardPrefix), true
	case "column-id":
		return id(store.ColumnPrefix), true
	case "card-id":
		return id(store.CardPrefix), true
	case "title":
		return argKind{json: "string", opts: []mcp.PropertyOption{mcp.MinLength(1), mcp.MaxLength(store.MaxTitleLen)}}, true
	case "description":
		return argKind{json: "string", defaultDesc: "Card description, plain text or Markdown",
			opts: []mcp.PropertyOption{mcp.MaxLength(store.MaxDescriptionLen)}}, true
	case "labels":
		return argKind{json: "array", opts: strings1(store.MaxLabelLen, store.MaxLabels)}, true
	case "label":
		return argKind{json: "string", opts: []mcp.PropertyOption{mcp.MaxLength(store.MaxLabelLen)}}, true
	case "column-names":
		return argKind{json: "array", opts: strings1(store.MaxTitleLen, store.MaxColumns)}, true
	case "query":
		return argKind{json: "string", opts: []mcp.PropertyOption{mcp.MaxLength(store.MaxQueryLen)}}, true
	case "visibility":
		return argKind{json: "string", opts: []mcp.PropertyOption{mcp.Enum(string(store.Public), string(store.Private))}}, true
	case "limit":
		return argKind{json: "integer", defaultDesc: "Maximum items to return (default " + itoa(store.DefaultPageSize) + ")",
			opts: []mcp.PropertyOption{minimum(1), maximum(store.MaxPageSize)}}, true
	case "cursor":
		return argKind{json: "string", defaultDesc: "next_cursor from the previous page, unchanged"}, true
	case "string", "integer", "boolean":
		return argKind{json: name}, true
	}
	return argKind{}, false
}

// argField is one declared argument of an argument struct.
type argField struct {
	name     string
	kind     argKind
	required bool
	index    int // the struct field's index
}

// inputOf derives the input schema of the arguments struct type t, and
// its fields, from the tags described above.
func inputOf(t reflect.Type) ([]mcp.ToolOption, []argField, error) {
	if t.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("the arguments %s are not a struct", t)
	}
	var opts []mcp.ToolOption
	var fields []argField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		tag, ok := f.Tag.Lookup("arg")
		if !ok || name == "" || name == "-" {
			return nil, nil, fmt.Errorf("field %s of %s needs a json name and an arg tag (its kind)", f.Name, t)
		}
		parts := strings.Split(tag, ",")
		kind, ok := argKindOf(parts[0])
		if !ok {
			return nil, nil, fmt.Errorf("argument %q: unknown kind %q in its arg tag", name, parts[0])
		}
		if got := jsonTypeOf(f.Type); got != kind.json {
			return nil, nil, fmt.Errorf("argument %q: a %s is a JSON %s, but the field is %s", name, parts[0], kind.json, f.Type)
		}
		desc := f.Tag.Get("desc")
		switch {
		case kind.idPrefix != "" && desc != "":
			desc = "ID of the " + desc + " (" + kind.idPrefix + "…)"
		case desc == "":
			desc = kind.defaultDesc
		}
		if desc == "" {
			return nil, nil, fmt.Errorf("argument %q needs a desc tag", name)
		}
		props := append([]mcp.PropertyOption{mcp.Description(desc)}, kind.opts...)
		field := argField{name: name, kind: kind, index: i}
		for _, o := range parts[1:] {
			switch {
			case o == "required":
				field.required = true
				props = append(props, mcp.Required())
			case strings.HasPrefix(o, "min="):
				n, err := strconv.Atoi(strings.TrimPrefix(o, "min="))
				if err != nil || kind.json != "integer" {
					return nil, nil, fmt.Errorf("argument %q: %q needs an integer argument and a whole number", name, o)
				}
				props = append(props, minimum(n))
			default:
				return nil, nil, fmt.Errorf("argument %q: unknown option %q in its arg tag", name, o)
			}
		}
		switch kind.json {
		case "string":
			opts = append(opts, mcp.WithString(name, props...))
		case "integer":
			opts = append(opts, mcp.WithInteger(name, props...))
		case "boolean":
			opts = append(opts, mcp.WithBoolean(name, props...))
		case "array":
			opts = append(opts, mcp.WithArray(name, props...))
		}
		fields = append(fields, field)
	}
	return opts, fields, nil
}

// checkArgumentNames refuses an argument whose name is not exactly one of
// fields': encoding/json would match "BOARD_ID" to board_id, and then the
// call would act on an ID that the audit of a refused call, which reads
// the exact names, never sees. What is not a JSON object is left to Bind.
func checkArgumentNames(raw json.RawMessage, fields []argField) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if !slices.ContainsFunc(fields, func(f argField) bool { return f.name == name }) {
			return store.Errorf(store.Invalid, "unknown argument %q; see the tool's input schema for the accepted names", name)
		}
	}
	return nil
}

// jsonTypeOf is the JSON type that a field of type t decodes from.
func jsonTypeOf(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "integer"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "array"
	}
	return t.String()
}

// checkIDArguments checks the form of the ID arguments in v (a value of
// the struct fields describe): a required one must be present, and any
// present one must be an ID of its kind.
func checkIDArguments(v reflect.Value, fields []argField) error {
	for _, f := range fields {
		if f.kind.idPrefix == "" {
			continue
		}
		fv := v.Field(f.index)
		present := f.required
		if fv.Kind() == reflect.Pointer {
			// A pointer says whether the argument was sent: sent, even
			// empty, it must be an ID.
			if fv.IsNil() {
				if f.required {
					return store.ValidateID(f.name, f.kind.idPrefix, "")
				}
				continue
			}
			fv, present = fv.Elem(), true
		}
		id := fv.String()
		if id == "" && present && !f.required {
			return store.Errorf(store.Invalid, "%s is empty: leave it out, or give an ID that starts with %q", f.name, f.kind.idPrefix)
		}
		if id != "" || present {
			if err := store.ValidateID(f.name, f.kind.idPrefix, id); err != nil {
				return err
			}
		}
	}
	return nil
}
