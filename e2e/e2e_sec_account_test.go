package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestAccountFlagsSelfChosenNames: /account lists a dynamically registered
// client under the name it chose for itself with the note the consent page
// has, "(name chosen by the application)", because anyone can register as
// "ChatGPT"; a client the operator registered is named without it.
func TestAccountFlagsSelfChosenNames(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"OAUTH_ISSUER": ""})
	browser := secBrowser()
	password := hardDemoPassword(t, srv)

	dcr := secRegister(t, srv, "Totally ChatGPT")
	secConnect(t, srv, browser, dcr, "demo", password, "kanban.read")

	out := secCLI(t, srv, "", "clients", "add", "-name", "Operator app", "-redirect-uri", secRedirect)
	m := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("clients add printed no client_id:\n%s", out)
	}
	secConnect(t, srv, browser, m[1], "demo", password, "kanban.read")

	page := fetchPage(t, browser, http.MethodGet, srv.URL+"/account", nil)
	var headings []string
	for _, h := range regexp.MustCompile(`(?s)<h2>(.*?)</h2>`).FindAllStringSubmatch(page, -1) {
		headings = append(headings, strings.TrimSpace(h[1]))
	}
	want := []string{
		`Totally ChatGPT <span class="note">(name chosen by the application)</span>`,
		`Operator app`,
	}
	if diff := cmp.Diff(want, headings, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("connected apps on /account (-want +got):\n%s", diff)
	}
}
