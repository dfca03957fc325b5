package metrics

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Family describes one metric family that the server defines.
type Family struct {
	Name, Type, Help string
	Labels           []string
}

// Families lists the families the server defines, sorted by name, with
// their types as a scrape reports them.
func Families() []Family {
	r := New()
	// Every family shows in a scrape once it has a series.
	r.Known(KnownLabels{Tools: []string{"t"}, Outcomes: []string{"o"}, Clients: []string{"c"}, AuthResults: []string{"r"}, RetryReasons: []string{"r"}})
	r.Audit(func() AuditStats { return AuditStats{} })
	r.DB.Pool("p", func() PoolStats { return PoolStats{} })
	r.HTTP.Route("r", http.NotFoundHandler())
	r.HTTP.Served("r", http.StatusOK, 0)
	types := map[string]string{}
	if gathered, err := r.reg.Gather(); err == nil {
		for _, mf := range gathered {
			types[mf.GetName()] = strings.ToLower(dto.MetricType_name[int32(mf.GetType())])
		}
	}
	out := slices.Clone(r.families)
	for i := range out {
		out[i].Type = types[out[i].Name]
	}
	slices.SortFunc(out, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// MarkdownTable is the README's table of the families.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | What it counts |\n|---|---|---|---|\n")
	for _, f := range Families() {
		labels := ""
		if len(f.Labels) > 0 {
			labels = "`" + strings.Join(f.Labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, f.Type, labels, strings.ReplaceAll(f.Help, "|", `\|`))
	}
	return b.String()
}
