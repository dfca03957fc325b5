package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/kanban-mcp/kanban-mcp/internal/clientip"
)

// registrationResponse is the RFC 7591 §3.2.1 answer: the client's
// identifier, its secret when it is confidential, and every metadata value
// as registered (defaults applied), so that the client learns what it got.
type registrationResponse struct {
	ClientID         string `json:"client_id"`
	ClientSecret     string `json:"client_secret,omitempty"`
	ClientIDIssuedAt int64  `json:"client_id_issued_at"`
	// ClientSecretExpiresAt is required with a secret; 0 means it does
	// not expire. Absent for public clients.
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ApplicationType         string   `json:"application_type"`
}

// handleRegister is open dynamic client registration (RFC 7591), limited
// per client IP.
//
// It stays open while the server cannot sign anyone in yet (SetupHint):
// a registration grants nothing by itself, and a client set up before the
// first user exists should not have to register again afterwards. The
// authorization and token endpoints are the ones that answer 503.
//
// Metrics counts each registration once: ok, refused (not JSON, not
// client metadata, invalid metadata) or throttled. A request the server
// could not handle (its limits or database did not answer) is not
// counted: it says nothing of the client.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	// Every attempt counts, well-formed or not: the limit bounds what one
	// address can make this server store or parse.
	ok, wait, err := s.limits.register.AllowN(ctx, clientip.Network(ip), 1)
	if err != nil {
		writeFailure(w, s.limitUnchecked(ctx, "client registration", err))
		return
	}
	if !ok {
		s.log.InfoContext(ctx, "client registration throttled", "ip", ip, "wait", wait)
		s.opts.Metrics.Registration("throttled")
		writeTooMany(w, wait, "Too many client registrations from this address; retry later.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.opts.Metrics.Registration("refused")
		writeOAuthError(w, http.StatusUnsupportedMediaType, ErrCodeInvalidClientMetadata,
			"The registration request must be application/json (RFC 7591 §3.1).")
		return
	}
	var req RegistrationRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	// Unknown members are ignored, not refused: RFC 7591 §2 lets a server
	// ignore metadata it does not understand, and clients send plenty
	// (logo_uri, scope, contacts, …).
	err = dec.Decode(&req)
	if err == nil {
		switch _, extra := dec.Token(); {
		case extra == io.EOF:
		case errors.As(extra, new(*http.MaxBytesError)):
			// The object fitted, but what follows it does not.
			err = extra
		default:
			err = errors.New("data after the JSON object")
		}
	}
	if err != nil {
		s.opts.Metrics.Registration("refused")
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeOAuthError(w, http.StatusRequestEntityTooLarge, ErrCodeInvalidClientMetadata,
				fmt.Sprintf("The registration request is larger than %d bytes.", maxRequestBody))
			return
		}
		writeOAuthError(w, http.StatusBadRequest, ErrCodeInvalidClientMetadata, decodeProblem(err))
		return
	}
	reg, err := ValidateRegistration(req)
	if err == nil {
		var client Client
		var secret string
		client, secret, err = s.opts.Store.RegisterClient(ctx, reg, SourceDCR)
		if err == nil {
			s.log.InfoContext(ctx, "client registered", "client_id", client.ID, "client_name", client.Name,
				"token_endpoint_auth_method", client.TokenEndpointAuthMethod, "ip", ip)
			s.opts.Metrics.Registration("ok")
			writeJSON(w, http.StatusCreated, registrationAnswer(client, secret))
			return
		}
	}
	if re, ok := errors.AsType[*RegistrationError](err); ok {
		s.log.InfoContext(ctx, "client registration refused", "ip", ip, "error", re.Code, "reason", re.Description)
		s.opts.Metrics.Registration("refused")
		writeOAuthError(w, http.StatusBadRequest, re.Code, re.Description)
		return
	}
	s.log.ErrorContext(ctx, "client registration failed", "ip", ip, "err", err)
	if f := s.serverError(err); f.status == http.StatusServiceUnavailable {
		writeFailure(w, f)
		return
	}
	writeOAuthError(w, http.StatusInternalServerError, errServerError, "The client could not be registered because of an error on the server.")
}

// registrationAnswer builds the RFC 7591 §3.2.1 answer for a client just
// registered with secret ("" for a public client).
func registrationAnswer(c Client, secret string) registrationResponse {
	resp := registrationResponse{
		ClientID:                c.ID,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		ClientName:              c.Name,
		RedirectURIs:            c.RedirectURIs,
		GrantTypes:              c.GrantTypes,
		ResponseTypes:           c.ResponseTypes,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		ApplicationType:         c.ApplicationType,
	}
	if secret != "" {
		never := int64(0)
		resp.ClientSecret = secret
		resp.ClientSecretExpiresAt = &never
	}
	return resp
}

// decodeProblem describes why a registration body is not client metadata,
// without echoing the body.
func decodeProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return "The registration request must be a JSON object of client metadata (RFC 7591 §2)."
		}
		return fmt.Sprintf("The client metadata member %s has the wrong type (it must be %s).", quoteShort(te.Field), jsonTypeName(te.Type.String()))
	}
	return "The registration request is not valid JSON client metadata (RFC 7591 §2)."
}

// jsonTypeName names a Go type of RegistrationRequest in JSON terms.
func jsonTypeName(goType string) string {
	switch goType {
	case "[]string":
		return "an array of strings"
	case "string":
		return "a string"
	}
	return "another type"
}
