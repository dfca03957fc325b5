package tools

// Effect is what a tool does to the data, declared once in its Tool; the
// four behaviour hints that hosts show and act on (ChatGPT asks the person
// before a destructive call) are derived from it, with the definitions of
// the MCP specification and of OpenAI's app review: destructive means it
// deletes, overwrites or revokes access; open world means it publishes or
// affects something outside this server's private data.
type Effect int

// The effects.
const (
	effectUnset Effect = iota
	// Reads changes nothing.
	Reads
	// Creates adds something new; calling it twice adds two.
	Creates
	// UpdatesInPlace changes where or how something is without losing any
	// of it (moving a card); calling it again changes nothing more.
	UpdatesInPlace
	// Overwrites replaces what was there (a card's title, description or
	// labels): what it replaced is lost.
	Overwrites
	// Deletes removes something for good.
	Deletes
	// Publishes makes data public, or withdraws public access: it reaches
	// people outside the connection, and undoing it revokes their access.
	Publishes
)

// String names the effect, for messages and the README's tool table.
func (e Effect) String() string {
	switch e {
	case Reads:
		return "reads"
	case Creates:
		return "creates"
	case UpdatesInPlace:
		return "updates in place"
	case Overwrites:
		return "overwrites"
	case Deletes:
		return "deletes"
	case Publishes:
		return "publishes"
	}
	return "unset"
}

// Annotations are the behaviour hints of a tool, derived from its Effect.
// Every field is stated explicitly in the descriptor because mcp-go
// defaults destructiveHint and openWorldHint to true.
type Annotations struct {
	ReadOnly    bool
	Destructive bool
	Idempotent  bool
	OpenWorld   bool
}

// Annotations derives the hints from the effect.
func (e Effect) Annotations() Annotations {
	switch e {
	case Reads:
		return Annotations{ReadOnly: true, Idempotent: true}
	case Creates:
		return Annotations{}
	case UpdatesInPlace:
		return Annotations{Idempotent: true}
	case Overwrites, Deletes:
		// Deleting again finds nothing to delete: no further effect.
		return Annotations{Destructive: true, Idempotent: true}
	case Publishes:
		return Annotations{Destructive: true, Idempotent: true, OpenWorld: true}
	}
	return Annotations{}
}
