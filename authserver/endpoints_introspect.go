package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kanban-mcp/kanban-mcp/auth"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// introspection is an RFC 7662 §2.2 answer. An inactive token's answer
// holds active alone: saying why would tell the caller about a token it
// should not learn anything from.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  string `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	ExpiresAt int64  `json:"exp,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	TokenID   string `json:"jti,omitempty"`
}

// handleIntrospect is token introspection (RFC 7662), for resource servers
// that check this server's tokens by asking rather than by verifying them.
//
// Only a confidential client that the operator added (kanban-mcp clients
// add -confidential) may ask: §2.1 requires the caller to authenticate,
// and §4 lets the server decide who may learn about tokens. A client
// registered by anyone through DCR, or a public one, is refused, since it
// could otherwise read who holds any token it came by. Failed
// authentications count against the token endpoint's per-(client_id, IP)
// backoff.
//
// An access token is active when it would be accepted at the resource:
// signature, issuer, audience and expiry check out, and neither its grant
// nor its user is revoked or blocked. Anything else, refresh tokens
// included (they are for the client alone), is {"active": false}.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	client, token, ok := s.tokenRequestOf(w, r, "introspection")
	if !ok {
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	if client.Public() {
		// A public client proves nothing about who asks.
		s.log.InfoContext(ctx, "introspection refused: a public client", "client_id", client.ID, "ip", ip)
		writeFailure(w, &failure{status: http.StatusUnauthorized, code: errInvalidClient,
			description: "Introspection needs client authentication: a public client cannot introspect tokens."})
		return
	}
	if s.blocked(ctx, "", client.ID) {
		// A client whose secret leaked is blocked; it learns nothing more.
		s.log.InfoContext(ctx, "introspection refused: client blocked", "client_id", client.ID, "ip", ip)
		writeOAuthError(w, http.StatusForbidden, errUnauthorizedClient, "This client is blocked by the operator.")
		return
	}
	if client.Source != SourcePreregistered {
		s.log.InfoContext(ctx, "introspection refused: client not added by the operator", "client_id", client.ID, "ip", ip)
		writeOAuthError(w, http.StatusForbidden, errUnauthorizedClient,
			"Only a confidential client added by the operator ("+product.Name+" clients add -confidential) may introspect tokens.")
		return
	}
	answer, err := s.introspect(ctx, token)
	if err != nil {
		s.log.ErrorContext(ctx, "introspection failed", "client_id", client.ID, "err", err)
		w.Header().Set("Retry-After", "5")
		writeOAuthError(w, http.StatusServiceUnavailable, errServerError, "The token cannot be checked right now; retry.")
		return
	}
	s.log.InfoContext(ctx, "token introspected", "client_id", client.ID, "ip", ip, "active", answer.Active)
	writeJSON(w, http.StatusOK, answer)
}

// introspect checks token as the resource server would. An error is a
// failure to check (the database), never a verdict on the token.
func (s *Server) introspect(ctx context.Context, token string) (introspection, error) {
	if !strings.HasPrefix(token, ReferenceTokenPrefix) && !auth.LooksLikeJWT(token) {
		return introspection{}, nil // a refresh token, or not ours
	}
	verifier, revocations, err := s.ownTokens(ctx)
	if err != nil {
		return introspection{}, err
	}
	p, err := verifier.Verify(ctx, token)
	if errors.Is(err, auth.ErrCheckUnavailable) {
		return introspection{}, err // 503: "inactive" would make the caller drop a good token
	}
	if err != nil {
		return introspection{}, nil
	}
	revoked, err := revocations.Revoked(ctx, p)
	if err != nil {
		return introspection{}, err
	}
	if revoked {
		return introspection{}, nil
	}
	return introspection{
		Active:    true,
		Scope:     strings.Join(p.Scopes, " "),
		ClientID:  p.ClientID,
		Subject:   p.Subject,
		Audience:  p.Audience,
		Issuer:    p.Issuer,
		ExpiresAt: p.ExpiresAt.Unix(),
		TokenType: "Bearer",
		TokenID:   p.TokenID,
	}, nil
}
