package store

import (
	"errors"
	"fmt"
)

// Code classifies a mistake the caller can fix. Errors without a Code are
// infrastructure failures.
type Code string

// The codes an *Error can carry.
const (
	Invalid  Code = "invalid"   // the input breaks a rule; the message says which
	NotFound Code = "not_found" // no such thing, or not the caller's to see or change
	Conflict Code = "conflict"  // the thing changed since the caller last read it
	Quota    Code = "quota"     // a configured limit would be exceeded
)

// ErrUnavailable marks an infrastructure failure that says the database
// cannot be reached or cannot serve right now (no connection, a server
// shutting down or out of connections, a standby), as opposed to a broken
// statement or a bug: find it with errors.Is and tell the caller to try
// again later. It is not a Code: it is no mistake of the caller, and
// ErrorCode and OutcomeOf treat it as any infrastructure failure. A write
// that failed with it may or may not have committed when the connection
// broke during COMMIT.
var ErrUnavailable = errors.New("the database is unavailable")

// Error is the one domain error type: a mistake the caller made, with a
// message written for the person or model that made it. Anything that is
// not an *Error (found with errors.As) is an infrastructure failure.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or "" when
// err is nil or an infrastructure failure.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// OutcomeOf maps an error to the outcome that the activity trail records.
// It is the one place where codes are interpreted: the tools turn the
// outcome into their answer (an isError result, or an internal error).
func OutcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	switch ErrorCode(err) {
	case Invalid:
		return OutcomeInvalidInput
	case NotFound:
		return OutcomeNotFound
	case Conflict:
		return OutcomeConflict
	case Quota:
		return OutcomeQuota
	default:
		return OutcomeError
	}
}

// BoardNotVisible is the one error for a board the viewer may not read,
// whether it is missing or someone else's private board: the two must be
// indistinguishable, in every backend alike.
func BoardNotVisible(id string) error {
	return Errorf(NotFound, "board %s was not found", id)
}

// BoardNotOwned is the one error for a board the actor may not change:
// missing, or someone else's (public or private).
func BoardNotOwned(id string) error {
	return Errorf(NotFound, "board %s was not found among your boards", id)
}

// CardNotOwned is the one error for a card the actor may not change:
// missing, or on someone else's board.
func CardNotOwned(id string) error {
	return Errorf(NotFound, "card %s was not found on your boards", id)
}

// CardNotVisible is the one error for a card the viewer may not read,
// whether it is missing or on someone else's private board.
func CardNotVisible(id string) error {
	return Errorf(NotFound, "card %s was not found", id)
}

// ColumnNotOnBoard is the one error for a column that is not on board
// boardID, which the caller may see.
func ColumnNotOnBoard(columnID, boardID string) error {
	return Errorf(NotFound, "column %s was not found on board %s", columnID, boardID)
}

// ColumnNotOwned is the one error for a column that is on none of the
// caller's own boards: missing, or someone else's.
func ColumnNotOwned(id string) error {
	return Errorf(NotFound, "column %s was not found among your boards", id)
}
