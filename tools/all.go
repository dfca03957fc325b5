package tools

// All returns every kanban tool (tools/list shows them sorted by name).
// Adding a tool means one new file with its declaration and one line here.
func All() []Tool {
	return []Tool{
		ListBoards(),
		GetBoard(),
		GetCard(),
		Whoami(),
		SearchCards(),
		ListActivity(),
		CreateBoard(),
		AddCard(),
		UpdateCard(),
		MoveCard(),
		DeleteCard(),
		ShareBoard(),
		DeleteBoard(),
	}
}
