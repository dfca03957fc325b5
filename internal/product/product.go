// Package product holds the product's name, so that a fork renames the
// product by changing one constant. It imports nothing, so every package
// of this module can import it without a cycle.
//
// Name is what people and programs are shown: the MCP server name in the
// initialize result, the protected-resource metadata's resource_name, the
// GET / text, the titles of the built-in authorization server's pages, the
// widget's messages (through `go generate ./widget`), the log line that
// announces the server, the CLI's usage and error messages, the Basic auth
// realm and the User-Agent of outgoing fetches. The Dockerfile's
// org.opencontainers.image.title label must equal it too; a test in
// deploy/ checks that.
//
// What must NOT follow it, and says so where it is defined:
//   - the Go module path (github.com/kanban-mcp/kanban-mcp), which is the
//     fork's own repository, renamed with `go mod edit -module`;
//   - the cryptographic domain-separation labels in authserver
//     (csrfLabel*, encryptionKeyInfo, deviceMACLabel): changing one would
//     invalidate the stored signing keys, the sessions and the device
//     cookies of a running deployment;
//   - the widget's _meta key (widget.ResultMetaKey), a wire identifier
//     shared with widget pages that hosts may have cached;
//   - file and folder names (the binary path in the Dockerfile, the data
//     folder, kanban.db).
//
// TestNoHardCodedName (guard_test.go) fails when a string literal, a page
// template or the widget's source spells the name out instead of using
// Name, and lists the exceptions above with their reasons;
// TestProductNameIsShown in the repository root checks the places through
// the running server.
package product

// Name is the product's name. Keep it a token (letters, digits, '.', '_'
// and '-'): it is also the CLI's command name in help text, a flag set's
// name and the product token of a User-Agent header.
const Name = "kanban-mcp"
