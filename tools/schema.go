package tools

import (
	"strconv"

	"github.com/mark3labs/mcp-go/mcp"
)

// Schema option helpers that mcp-go lacks.

func minimum(n int) mcp.PropertyOption { return func(s map[string]any) { s["minimum"] = n } }
func maximum(n int) mcp.PropertyOption { return func(s map[string]any) { s["maximum"] = n } }

func itoa(n int) string { return strconv.Itoa(n) }
