// Package tools turns MCP tool calls into store calls.
//
// Each tool is one declaration (a Tool value built in its own file): name,
// description, input and output schema, annotations, the auth Requirement
// and the handler sit together. Register derives everything else from the
// declarations: the descriptors that tools/list shows (securitySchemes
// included), the check of every call against the caller's token, the
// challenges, and the audit row of every call. A handler therefore cannot be
// reached without its declaration's check, and cannot forget the audit.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/store"
)

// Tool is the single declaration of one tool.
type Tool struct {
	Name        string
	Title       string
	Description string
	// Output sets the output schema, normally mcp.WithOutputSchema[T]() for
	// the type the handler returns as structured content.
	Output mcp.ToolOption
	// Effect is what the tool does to the data; its behaviour hints
	// (readOnly, destructive, idempotent, openWorld) are derived from it.
	Effect   Effect
	Requires auth.Requirement
	// Describe words what the tool's write changed as its activity row's
	// summary ("added card 'X' to Doing on 'Y'"); the store commits it with
	// the change. Every tool that is not read-only has one, and no
	// read-only tool does: a read's row comes from its Result.Activity.
	Describe func(store.Change) string
	// LargeAnswer marks a tool whose answer grows with the data (a whole
	// board, a page of cards): the HTTP layer builds only a few such
	// answers at a time, so that many callers at once cannot take the
	// server's memory.
	LargeAnswer bool
	// Meta holds extra _meta entries of the descriptor (e.g. UI templates).
	Meta map[string]any
	// Handle runs the tool; Bound makes it from a function of the tool's
	// argument struct, from which the input schema is derived too.
	Handle Handler
}

// Handler runs a call that has passed the declaration's check, and knows
// the arguments it takes. Bound makes one.
type Handler struct {
	// run returns an error with a store code for anything the caller can
	// fix, and any other error for an infrastructure failure.
	run    func(ctx context.Context, s store.Store, c *Call) (*Result, error)
	input  []mcp.ToolOption // the input schema's properties
	fields []argField
	err    error // why the argument struct declares no valid schema
}

// Call is what a handler knows about the call it serves.
type Call struct {
	// Tool is the tool's name.
	Tool string
	// Viewer is whose view of the data the call gets: the principal's, or
	// the anonymous Actor when there is no token or when a tool open to
	// anonymous callers is called with a token that lacks its scope.
	Viewer store.Actor
	// Principal is the verified caller, even when the call runs as
	// anonymous; nil when no token was sent.
	Principal *auth.Principal

	args     json.RawMessage
	ids      []idArgument // the tool's declared ID arguments
	describe func(store.Change) string
	scopes   *auth.ScopeSet
}

// newCall is the Call of t by p with args, before its check sets Viewer.
func (t Tool) newCall(p *auth.Principal, args json.RawMessage, ids []idArgument, scopes *auth.ScopeSet) *Call {
	return &Call{Tool: t.Name, Principal: p, args: args, ids: ids, describe: t.Describe, scopes: scopes}
}

// Grants reports whether the caller's token grants need, directly or
// through what its scopes imply; false without a token.
func (c *Call) Grants(need auth.Scope) bool {
	return c.Principal != nil && c.scopes.Allow(c.Principal.Scopes, need)
}

// StoreCall describes this call to the store for a write: who makes it,
// and the tool's Describe, whose wording of what the write changed the
// store commits as the summary of the write's activity row, in the same
// transaction.
func (c *Call) StoreCall() store.Call {
	return store.Call{Actor: c.Viewer, Tool: c.Tool, Describe: c.describe}
}

// Bind decodes the call's arguments into v, strictly: an unknown argument
// name or a value of the wrong type is an Invalid error that says which.
func (c *Call) Bind(v any) error {
	raw := bytes.TrimSpace(c.args)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return argumentError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return store.Errorf(store.Invalid, "arguments must be a single JSON object")
	}
	return nil
}

// argumentError rewrites a JSON decoding error as a sentence a model can
// act on.
func argumentError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return store.Errorf(store.Invalid, "argument %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return store.Errorf(store.Invalid, "arguments must be a JSON object, not %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return store.Errorf(store.Invalid, "arguments are not valid JSON")
	case strings.HasPrefix(msg, "json: unknown field "):
		return store.Errorf(store.Invalid, "unknown argument %s; see the tool's input schema for the accepted names", strings.TrimPrefix(msg, "json: unknown field "))
	}
	return store.Errorf(store.Invalid, "arguments could not be read: %v", err)
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "a whole number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.Contains(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "string"):
		return "a string"
	}
	return "of another type"
}

// Result is what a successful handler returns.
type Result struct {
	// Structured is the structuredContent; its type matches the declared
	// output schema.
	Structured any
	// Summary is one line saying what the call found or did; it starts
	// the text content, and ResultText renders Structured below it.
	Summary string
	// Activity describes a read-only tool's call for the audit trail; the
	// registry fills in time, tool, outcome and actor, and records it. A
	// tool that is not read-only leaves it empty: its write records its row
	// (StoreCall's describe).
	Activity store.Activity
	// Meta is the result's _meta: what only a UI (the widget) needs. Hosts
	// hand it to the widget and not to the model.
	Meta map[string]any
}

// validate checks a declaration before it can be registered.
func (t Tool) validate(scopes *auth.ScopeSet) error {
	var problems []string
	// The tool-name rule of the MCP specification.
	namePattern := regexp.MustCompile(`^[A-Za-z0-9_./-]{1,64}$`)
	if !namePattern.MatchString(t.Name) {
		problems = append(problems, "name must match "+namePattern.String())
	}
	if strings.TrimSpace(t.Description) == "" {
		problems = append(problems, "description is empty")
	}
	if t.Output == nil {
		problems = append(problems, "no output schema")
	}
	if t.Handle.run == nil {
		problems = append(problems, "no handler")
	}
	if t.Handle.err != nil {
		problems = append(problems, t.Handle.err.Error())
	}
	switch {
	case t.Effect == effectUnset:
		problems = append(problems, "no Effect: say what it does to the data (Reads, Creates, UpdatesInPlace, Overwrites, Deletes, Publishes)")
	case t.Effect != Reads && t.Describe == nil:
		problems = append(problems, "not read-only but no Describe: its write's activity row needs wording")
	case t.Effect == Reads && t.Describe != nil:
		problems = append(problems, "read-only but has a Describe: a read's row comes from its Result.Activity")
	}
	for _, f := range t.Handle.fields {
		if f.kind.idPrefix == "" && strings.HasSuffix(f.name, "_id") {
			problems = append(problems, fmt.Sprintf("argument %q looks like an ID but is not declared with an ID kind (arg:\"board-id\" and the like)", f.name))
		}
	}
	switch s := t.Requires.Scope; {
	case s != "" && !scopes.Known(s):
		problems = append(problems, fmt.Sprintf("requires scope %q, which is not declared; add it to Scopes", s))
	case s == "" && !t.Requires.Anonymous:
		// The zero Requirement would mean "any token will do": a forgotten
		// declaration must not quietly open a tool to every token.
		problems = append(problems, "Requires names no scope and does not allow anonymous callers; declare what the tool needs")
	}
	if len(problems) > 0 {
		return fmt.Errorf("tool %q: %s", t.Name, strings.Join(problems, "; "))
	}
	return nil
}

// Descriptor builds the mcp.Tool that tools/list shows. securitySchemes is
// set in _meta here; the HTTP layer mirrors it to the top level, which
// mcp-go cannot emit (see httpapi's addSecuritySchemes). The input schema
// refuses unknown properties, as Bind does.
func (t Tool) Descriptor() mcp.Tool {
	hints := t.Effect.Annotations()
	opts := []mcp.ToolOption{
		mcp.WithDescription(t.Description),
		mcp.WithToolAnnotation(mcp.ToolAnnotation{
			Title:           t.Title,
			ReadOnlyHint:    mcp.ToBoolPtr(hints.ReadOnly),
			DestructiveHint: mcp.ToBoolPtr(hints.Destructive),
			IdempotentHint:  mcp.ToBoolPtr(hints.Idempotent),
			OpenWorldHint:   mcp.ToBoolPtr(hints.OpenWorld),
		}),
		t.Output,
	}
	if t.Title != "" {
		opts = append(opts, mcp.WithToolTitle(t.Title))
	}
	opts = append(opts, t.Handle.input...)
	opts = append(opts, mcp.WithSchemaAdditionalProperties(false))
	d := mcp.NewTool(t.Name, opts...)
	meta := map[string]any{SecuritySchemesKey: t.Requires.SecuritySchemes()}
	for k, v := range t.Meta {
		meta[k] = v
	}
	d.Meta = mcp.NewMetaFromMap(meta)
	return d
}

// SecuritySchemesKey is the descriptor field (top level and in _meta) that
// declares a tool's security schemes.
const SecuritySchemesKey = "securitySchemes"

// arguments is what a tool's argument struct must be: validate checks what
// the input schema cannot say (an ID's form, which arguments go together),
// with a value receiver. Bound requires it, so a tool whose arguments lack
// validate, or have it with a pointer receiver, does not compile, instead
// of skipping the check silently.
type arguments interface{ validate() error }

// NoArguments is the arguments of a tool that takes none; tools declared
// outside this package (tests) use it too, as they cannot declare
// validate.
type NoArguments struct{}

func (NoArguments) validate() error { return nil }

// Bound makes the Handler of a function that takes the tool's arguments
// already decoded (with Call.Bind) and checked: the form of the ID
// arguments, then the struct's validate method. The input schema is derived
// from In's fields and their tags (see inputOf), so that each tool's
// arguments are declared once and its handler starts with valid input.
func Bound[In arguments](fn func(ctx context.Context, s store.Store, c *Call, in In) (*Result, error)) Handler {
	input, fields, err := inputOf(reflect.TypeFor[In]())
	return Handler{input: input, fields: fields, err: err, run: func(ctx context.Context, s store.Store, c *Call) (*Result, error) {
		var in In
		if err := checkArgumentNames(c.args, fields); err != nil {
			return nil, err
		}
		if err := c.Bind(&in); err != nil {
			return nil, err
		}
		if err := checkIDArguments(reflect.ValueOf(in), fields); err != nil {
			return nil, err
		}
		if err := in.validate(); err != nil {
			return nil, err
		}
		return fn(ctx, s, c, in)
	}}
}

// idArgument is an ID argument that a tool declares.
type idArgument struct{ name, prefix string }

// idArguments lists the ID arguments the tool declares, sorted by name:
// the only arguments of a refused or failed call that its audit row keeps.
func (t Tool) idArguments() []idArgument {
	var out []idArgument
	for _, f := range t.Handle.fields {
		if f.kind.idPrefix != "" {
			out = append(out, idArgument{f.name, f.kind.idPrefix})
		}
	}
	slices.SortFunc(out, func(a, b idArgument) int { return strings.Compare(a.name, b.name) })
	return out
}
