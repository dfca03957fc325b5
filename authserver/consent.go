package authserver

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/auth"
)

// consentPlan is what the consent page offers for one authorization
// request, worked out from the declared scopes alone: nothing on the page
// names an application scope.
type consentPlan struct {
	// kept are the scopes of the live grant that a step-up builds on: the
	// new grant holds them whatever is chosen.
	kept []auth.Scope
	// groups are the choices, each a set of scopes connected by what they
	// imply. A chain (read ⊂ write ⊂ admin) is one choice among levels; any
	// other group is a checkbox per scope.
	groups []scopeGroup
}

// scopeGroup is one set of choices on the consent page.
type scopeGroup struct {
	// chain: the scopes are totally ordered by what they imply, least
	// first, and offered as radio buttons named field. Otherwise each is a
	// checkbox named checkboxField.
	chain bool
	field string
	// scopes are the offered scopes, least powerful first.
	scopes []auth.Scope
	// none offers "none of these" in a chain, when there is something
	// else to allow.
	none bool
	// preselected are the scopes chosen when the page opens: the most
	// powerful non-sensitive level of a chain, every non-sensitive
	// checkbox. A sensitive scope is never among them.
	preselected []auth.Scope
}

// checkboxField names the consent form's checkboxes, one per scope that
// is not a level of a chain. Not "scope": the form carries the
// authorization request's own scope parameter.
const checkboxField = "choose_scope"

// errNothingChosen and errBadChoice are the consent form's mistakes; the
// page is shown again with a message.
var (
	errNothingChosen = errors.New("choose at least one kind of access, or Deny")
	errBadChoice     = errors.New("choose among the options below")
)

// planConsent works out the page for a request of requested (declared
// scopes) when the client's live grant, if any, holds live. What is offered
// is everything the requested scopes grant, never more, less what the live
// grant already holds.
func planConsent(set *auth.ScopeSet, requested, live []auth.Scope) consentPlan {
	kept := set.Grants(live...)
	var offered []auth.Scope
	for _, sc := range set.Grants(requested...) {
		if !slices.Contains(kept, sc) {
			offered = append(offered, sc)
		}
	}
	related := func(a, b auth.Scope) bool { return set.Implies(a, b) || set.Implies(b, a) }

	// Connected components of the offered scopes, in declaration order.
	var groups []scopeGroup
	placed := make(map[auth.Scope]bool)
	for _, first := range offered {
		if placed[first] {
			continue
		}
		members := []auth.Scope{first}
		placed[first] = true
		for i := 0; i < len(members); i++ {
			for _, other := range offered {
				if !placed[other] && related(members[i], other) {
					placed[other] = true
					members = append(members, other)
				}
			}
		}
		// Least powerful first; declaration order between equals.
		members = orderedAsDeclared(set, members)
		slices.SortStableFunc(members, func(a, b auth.Scope) int { return len(set.Grants(a)) - len(set.Grants(b)) })
		// A lone offered scope is a level when the declared graph puts it
		// in a chain (only kanban.read of read ⊂ write ⊂ admin asked for),
		// and a checkbox otherwise.
		chain := len(members) > 1 && totallyOrdered(set, members) || len(members) == 1 && inChain(set, members[0])
		groups = append(groups, scopeGroup{chain: chain, scopes: members})
	}

	chains := 0
	for i := range groups {
		g := &groups[i]
		if g.chain {
			chains++
			g.field = "level"
			if chains > 1 {
				g.field = "level-" + strconv.Itoa(chains)
			}
			g.none = len(groups) > 1 || len(kept) > 0
			for k := len(g.scopes) - 1; k >= 0; k-- {
				if d, _ := set.Lookup(g.scopes[k]); !d.Sensitive {
					g.preselected = []auth.Scope{g.scopes[k]}
					break
				}
			}
			continue
		}
		g.field = checkboxField
		for _, sc := range g.scopes {
			if d, _ := set.Lookup(sc); !d.Sensitive {
				g.preselected = append(g.preselected, sc)
			}
		}
	}
	return consentPlan{kept: kept, groups: groups}
}

// totallyOrdered reports whether scopes, least powerful first, form a
// chain: each implies all before it.
func totallyOrdered(set *auth.ScopeSet, scopes []auth.Scope) bool {
	for i := range scopes {
		for j := i + 1; j < len(scopes); j++ {
			if !set.Implies(scopes[j], scopes[i]) {
				return false
			}
		}
	}
	return true
}

// inChain reports whether the declared scopes connected to sc by what they
// imply form a chain of two or more.
func inChain(set *auth.ScopeSet, sc auth.Scope) bool {
	component := []auth.Scope{sc}
	for i := 0; i < len(component); i++ {
		for _, other := range set.Names() {
			if !slices.Contains(component, other) && (set.Implies(component[i], other) || set.Implies(other, component[i])) {
				component = append(component, other)
			}
		}
	}
	slices.SortStableFunc(component, func(a, b auth.Scope) int { return len(set.Grants(a)) - len(set.Grants(b)) })
	return len(component) > 1 && totallyOrdered(set, component)
}

// orderedAsDeclared returns scopes in declaration order.
func orderedAsDeclared(set *auth.ScopeSet, scopes []auth.Scope) []auth.Scope {
	var out []auth.Scope
	for _, n := range set.Names() {
		if slices.Contains(scopes, n) {
			out = append(out, n)
		}
	}
	return out
}

// choose reads the consent form: the scopes the person took, with what
// they imply, plus the kept ones. Anything not offered is errBadChoice;
// taking nothing at all is errNothingChosen.
func (p consentPlan) choose(set *auth.ScopeSet, form url.Values) ([]auth.Scope, error) {
	chosen := slices.Clone(p.kept)
	var boxes []auth.Scope
	for _, g := range p.groups {
		if g.chain {
			switch v := form.Get(g.field); {
			case v == "" || v == "none":
			case slices.Contains(g.scopes, auth.Scope(v)):
				chosen = append(chosen, auth.Scope(v))
			default:
				return nil, errBadChoice
			}
			continue
		}
		boxes = append(boxes, g.scopes...)
	}
	for _, v := range form[checkboxField] {
		if !slices.Contains(boxes, auth.Scope(v)) {
			return nil, errBadChoice
		}
		chosen = append(chosen, auth.Scope(v))
	}
	if len(chosen) == 0 {
		return nil, errNothingChosen
	}
	return set.Grants(chosen...), nil
}

// covers reports whether a remembered consent to remembered (with what it
// implies) already includes everything the plan offers.
func (p consentPlan) covers(remembered []auth.Scope) bool {
	for _, g := range p.groups {
		for _, sc := range g.scopes {
			if !slices.Contains(remembered, sc) {
				return false
			}
		}
	}
	return true
}

// offered returns every scope the plan offers, kept ones excluded.
func (p consentPlan) offered() []auth.Scope {
	var out []auth.Scope
	for _, g := range p.groups {
		out = append(out, g.scopes...)
	}
	return out
}

// scopeWords are a scope's words on the pages: its title and consent line.
func scopeWords(set *auth.ScopeSet, sc auth.Scope) (title, detail string) {
	d, ok := set.Lookup(sc)
	if !ok {
		return string(sc), ""
	}
	return d.Title, d.Consent
}

// describeScopes names a grant's declared scopes in words for the account
// page: the titles of the scopes not implied by another one it holds
// ("Read and write", "Full control, Archive").
func describeScopes(set *auth.ScopeSet, held []auth.Scope) string {
	var tops []string
	for _, sc := range held {
		implied := false
		for _, other := range held {
			if other != sc && set.Implies(other, sc) {
				implied = true
				break
			}
		}
		if !implied {
			title, _ := scopeWords(set, sc)
			tops = append(tops, title)
		}
	}
	if len(tops) == 0 {
		return "No access to your data"
	}
	return strings.Join(tops, ", ")
}
