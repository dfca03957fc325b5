package auth

// The results of authenticating a request: how its access token was
// judged, in a fixed few words. They label the authentication metric, so
// they say why a token was refused without anything of the token itself.
const (
	ResultOK   = "ok"   // a valid token, not revoked
	ResultNone = "none" // no bearer token: an anonymous request
	// ResultBadRequest is a malformed Authorization header or a token in
	// the URL.
	ResultBadRequest    = "bad_request"
	ResultMalformed     = "malformed" // unreadable: too large, not a JWT, malformed claims
	ResultExpired       = "expired"
	ResultNotYetValid   = "not_yet_valid"
	ResultBadSignature  = "bad_signature"
	ResultUnknownKey    = "unknown_key"   // signed with a key the issuer does not publish
	ResultUnverifiable  = "unverifiable"  // an algorithm or key type not accepted
	ResultMissingClaim  = "missing_claim" // no iss, aud, exp or sub
	ResultWrongIssuer   = "wrong_issuer"
	ResultWrongAudience = "wrong_audience" // for another resource, or an ID token
	ResultInactive      = "inactive"       // the issuer says it is not active (introspection, reference tokens)
	ResultRevoked       = "revoked"
	// ResultUnavailable is a token that could not be checked for a reason
	// of ours: keys not loaded, the introspection endpoint or the
	// revocation database out of reach.
	ResultUnavailable = "unavailable"
	ResultNoIssuer    = "no_issuer" // a token sent to a server that trusts no issuer
	// ResultInsufficientScope is a tool call refused after its token was
	// accepted, because it lacks the tool's scope: the tools report it.
	ResultInsufficientScope = "insufficient_scope"
	ResultInvalid           = "invalid" // any other refusal
)

// Results lists every result, for metrics that show each from the start.
func Results() []string {
	return []string{ResultOK, ResultNone, ResultBadRequest, ResultMalformed, ResultExpired, ResultNotYetValid,
		ResultBadSignature, ResultUnknownKey, ResultUnverifiable, ResultMissingClaim, ResultWrongIssuer,
		ResultWrongAudience, ResultInactive, ResultRevoked, ResultUnavailable, ResultNoIssuer,
		ResultInsufficientScope, ResultInvalid}
}
