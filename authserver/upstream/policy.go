package upstream

import (
	"fmt"
	"net/url"
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
//     to that Workspace. For the same reason, at Google a listed address
//     at a domain other than gmail.com needs hd to be that domain.
//   - Tenants admits an Entra ID directory (tid), when the issuer is that
//     directory's own (its path names the tenant), so that no other
//     provider's tid claim counts. Entra sends no email_verified, so its
//     users come in by tenant; the directory's guests carry its tid too.
//
// Comparisons ignore ASCII case only, and addresses or domains with other
// characters never match: Unicode case folding would let a verified
// "ſam@" (long s) pass for "sam@". A domain does not admit its subdomains.
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
	if id.TenantID != "" && containsFold(p.Tenants, id.TenantID) &&
		strings.Contains(issuerPath(id.Issuer), "/"+id.TenantID+"/") {
		return nil
	}
	google := id.Issuer == GoogleIssuer
	domain := emailDomain(id.Email)
	if id.EmailVerified && id.Email != "" {
		if containsFold(p.Emails, id.Email) && (!google || consumerGoogleDomain(domain) || asciiEqualFold(id.HostedDomain, domain)) {
			return nil
		}
		if !google && containsFold(p.Domains, domain) {
			return nil
		}
	}
	if google && id.HostedDomain != "" && containsFold(p.Domains, id.HostedDomain) {
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

// consumerGoogleDomain reports whether addresses at domain are Google's
// own, which belong to no Workspace and so carry no hd.
func consumerGoogleDomain(domain string) bool {
	return asciiEqualFold(domain, "gmail.com") || asciiEqualFold(domain, "googlemail.com")
}

// issuerPath returns the path of an issuer URL ending in a slash.
func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/") + "/"
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return asciiEqualFold(e, v) })
}

// asciiEqualFold compares two non-empty ASCII strings without regard to
// case; a string with any other character equals nothing.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) || a == "" {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca >= 0x80 || cb >= 0x80 {
			return false
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// emailDomain returns what follows the last @ of an address.
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return email[at+1:]
}
