package tools

import (
	"strconv"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// Input property helpers shared by the declarations, so that every tool
// describes the same argument the same way, with the store's limits.

func minimum(n int) mcp.PropertyOption { return func(s map[string]any) { s["minimum"] = n } }
func maximum(n int) mcp.PropertyOption { return func(s map[string]any) { s["maximum"] = n } }

// idPrefix returns the prefix of the IDs that the argument name carries.
// Every tool names an ID argument the same way, so the name alone says what
// an ID must look like: the audit trail keeps only the declared ID
// arguments whose values have the right form.
func idPrefix(name string) (string, bool) {
	switch name {
	case "board_id":
		return store.BoardPrefix, true
	case "column_id":
		return store.ColumnPrefix, true
	case "card_id":
		return store.CardPrefix, true
	}
	return "", false
}

// idArg declares an ID argument; name must be one that idPrefix knows
// (Tool.validate checks).
func idArg(name, what string, required bool) mcp.ToolOption {
	opts := []mcp.PropertyOption{mcp.Description("ID of the " + what), mcp.MaxLength(64)}
	if required {
		opts = append(opts, mcp.Required())
	}
	return mcp.WithString(name, opts...)
}

func titleArg(name, desc string, required bool) mcp.ToolOption {
	opts := []mcp.PropertyOption{mcp.Description(desc), mcp.MinLength(1), mcp.MaxLength(store.MaxTitleLen)}
	if required {
		opts = append(opts, mcp.Required())
	}
	return mcp.WithString(name, opts...)
}

func descriptionArg() mcp.ToolOption {
	return mcp.WithString("description", mcp.Description("Card description, plain text or Markdown"), mcp.MaxLength(store.MaxDescriptionLen))
}

func labelsArg(desc string) mcp.ToolOption {
	return mcp.WithArray("labels", mcp.Description(desc),
		mcp.WithStringItems(mcp.MinLength(1), mcp.MaxLength(store.MaxLabelLen)), mcp.MaxItems(store.MaxLabels))
}

func pageArgs() []mcp.ToolOption {
	return []mcp.ToolOption{
		mcp.WithInteger("limit", mcp.Description("Maximum items to return (default "+itoa(store.DefaultPageSize)+")"),
			minimum(1), maximum(store.MaxPageSize)),
		mcp.WithString("cursor", mcp.Description("next_cursor from the previous page, unchanged")),
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
