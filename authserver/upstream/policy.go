package upstream

import (
	"fmt"
	"slices"
	"strings"
)

// Policy decides who may come in through the provider. A person comes in
// when any one rule admits them; AllowAny admits everyone the provider
// signs in. No rule trusts an email the provider does not vouch for:
//
//   - Emails admits an email address, when the provider says it is
//     verified (email_verified true).
//   - Domains admits the domain of such a verified email. At Google the
//     hosted domain (hd) decides instead: any Google account can carry a
//     verified address at any domain, and only hd says the account belongs
//     to that Workspace.
//   - Tenants admits an Entra ID directory (tid). Entra sends no
//     email_verified, so its users come in by tenant.
//
// Comparisons ignore case; a domain does not admit its subdomains.
type Policy struct {
	Emails   []string
	Domains  []string
	Tenants  []string
	AllowAny bool
}

// Empty reports whether the policy admits nobody: no list and no AllowAny.
func (p Policy) Empty() bool {
	return !p.AllowAny && len(p.Emails) == 0 && len(p.Domains) == 0 && len(p.Tenants) == 0
}

// RefusedError says why a signed-in person may not come in, in words for
// that person (it names their own email and nothing of the policy).
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "upstream: refused: " + e.Reason }

// Admit returns nil when a rule admits id, or a *RefusedError.
func (p Policy) Admit(id Identity) error {
	if p.AllowAny {
		return nil
	}
	if id.TenantID != "" && containsFold(p.Tenants, id.TenantID) {
		return nil
	}
	if id.EmailVerified && id.Email != "" {
		if containsFold(p.Emails, id.Email) {
			return nil
		}
		if id.Issuer != GoogleIssuer && containsFold(p.Domains, emailDomain(id.Email)) {
			return nil
		}
	}
	if id.Issuer == GoogleIssuer && id.HostedDomain != "" && containsFold(p.Domains, id.HostedDomain) {
		return nil
	}
	switch {
	case id.Email == "":
		return &RefusedError{Reason: "The provider did not tell this server your email address, and no other rule admits your account."}
	case !id.EmailVerified && len(p.Tenants) == 0:
		return &RefusedError{Reason: fmt.Sprintf("The provider does not confirm that %s is verified, so this server cannot admit it.", id.Email)}
	default:
		return &RefusedError{Reason: fmt.Sprintf("The account %s is not among those allowed to use this server.", id.Email)}
	}
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return strings.EqualFold(e, v) })
}

// emailDomain returns what follows the last @ of an address.
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return email[at+1:]
}
