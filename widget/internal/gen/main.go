// Command gen writes widget/board.html from widget/src. Run it with
// `go generate ./widget`.
package main

import (
	"fmt"
	"os"

	"github.com/kanban-mcp/kanban-mcp/widget/internal/assemble"
)

func main() {
	// go generate runs in the widget folder.
	page, err := assemble.Page(os.DirFS("src"))
	if err == nil {
		err = os.WriteFile("board.html", page, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "widget: generate board.html:", err)
		os.Exit(1)
	}
}
