package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kanban-mcp/kanban-mcp/store"
)

// Store gives every operation of st a span, named "store " and the
// operation, with the database system (sqlite, postgresql) and, when it
// failed, the outcome its error maps to. Without a tracer it returns st
// itself, so that an untraced server calls its store directly.
func Store(st store.Store, t *Tracer, system string) store.Store {
	if t == nil {
		return st
	}
	return &tracedStore{st: st, t: t, system: attribute.String("db.system.name", system)}
}

type tracedStore struct {
	st     store.Store
	t      *Tracer
	system attribute.KeyValue
}

func (s *tracedStore) start(ctx context.Context, op string) (context.Context, Span) {
	ctx, span := s.t.Start(ctx, "store "+op, trace.SpanKindClient)
	span.Set(s.system, attribute.String("db.operation.name", op))
	return ctx, span
}

// end ends span after an operation that returned err.
func end(span Span, err error) {
	if err != nil {
		outcome := store.OutcomeOf(err)
		span.Set(attribute.String("store.outcome", string(outcome)))
		if outcome == store.OutcomeError {
			// The error's text may quote what a caller sent; its kind does not.
			span.Fail("the database operation failed")
		}
	}
	span.End()
}

func (s *tracedStore) ListBoards(ctx context.Context, viewer store.Actor, page store.Page) (store.BoardList, error) {
	ctx, span := s.start(ctx, "ListBoards")
	v, err := s.st.ListBoards(ctx, viewer, page)
	end(span, err)
	return v, err
}

func (s *tracedStore) GetBoard(ctx context.Context, viewer store.Actor, boardID string) (*store.Board, error) {
	ctx, span := s.start(ctx, "GetBoard")
	v, err := s.st.GetBoard(ctx, viewer, boardID)
	end(span, err)
	return v, err
}

func (s *tracedStore) GetCard(ctx context.Context, viewer store.Actor, cardID string) (*store.CardView, error) {
	ctx, span := s.start(ctx, "GetCard")
	v, err := s.st.GetCard(ctx, viewer, cardID)
	end(span, err)
	return v, err
}

func (s *tracedStore) SearchCards(ctx context.Context, viewer store.Actor, q store.CardQuery) (store.CardList, error) {
	ctx, span := s.start(ctx, "SearchCards")
	v, err := s.st.SearchCards(ctx, viewer, q)
	end(span, err)
	return v, err
}

func (s *tracedStore) ListActivity(ctx context.Context, viewer store.Actor, boardID string, page store.Page) (store.ActivityList, error) {
	ctx, span := s.start(ctx, "ListActivity")
	v, err := s.st.ListActivity(ctx, viewer, boardID, page)
	end(span, err)
	return v, err
}

func (s *tracedStore) CreateBoard(ctx context.Context, c store.Call, title string, columns []string) (*store.Board, error) {
	ctx, span := s.start(ctx, "CreateBoard")
	v, err := s.st.CreateBoard(ctx, c, title, columns)
	end(span, err)
	return v, err
}

func (s *tracedStore) AddCard(ctx context.Context, c store.Call, in store.NewCard) (*store.Card, error) {
	ctx, span := s.start(ctx, "AddCard")
	v, err := s.st.AddCard(ctx, c, in)
	end(span, err)
	return v, err
}

func (s *tracedStore) UpdateCard(ctx context.Context, c store.Call, in store.CardUpdate) (*store.Card, error) {
	ctx, span := s.start(ctx, "UpdateCard")
	v, err := s.st.UpdateCard(ctx, c, in)
	end(span, err)
	return v, err
}

func (s *tracedStore) MoveCard(ctx context.Context, c store.Call, cardID, columnID string, position *int) (*store.CardMove, error) {
	ctx, span := s.start(ctx, "MoveCard")
	v, err := s.st.MoveCard(ctx, c, cardID, columnID, position)
	end(span, err)
	return v, err
}

func (s *tracedStore) DeleteCard(ctx context.Context, c store.Call, cardID string) (*store.DeletedCard, error) {
	ctx, span := s.start(ctx, "DeleteCard")
	v, err := s.st.DeleteCard(ctx, c, cardID)
	end(span, err)
	return v, err
}

func (s *tracedStore) ShareBoard(ctx context.Context, c store.Call, boardID string, v store.Visibility) (*store.BoardSummary, error) {
	ctx, span := s.start(ctx, "ShareBoard")
	out, err := s.st.ShareBoard(ctx, c, boardID, v)
	end(span, err)
	return out, err
}

func (s *tracedStore) DeleteBoard(ctx context.Context, c store.Call, boardID string) (*store.BoardSummary, error) {
	ctx, span := s.start(ctx, "DeleteBoard")
	v, err := s.st.DeleteBoard(ctx, c, boardID)
	end(span, err)
	return v, err
}

func (s *tracedStore) RecordActivity(ctx context.Context, rows []store.Activity) error {
	ctx, span := s.start(ctx, "RecordActivity")
	err := s.st.RecordActivity(ctx, rows)
	end(span, err)
	return err
}

func (s *tracedStore) PruneActivity(ctx context.Context, cutoff time.Time) (int64, error) {
	ctx, span := s.start(ctx, "PruneActivity")
	v, err := s.st.PruneActivity(ctx, cutoff)
	end(span, err)
	return v, err
}

func (s *tracedStore) Ping(ctx context.Context) error {
	ctx, span := s.start(ctx, "Ping")
	err := s.st.Ping(ctx)
	end(span, err)
	return err
}

func (s *tracedStore) Close() error { return s.st.Close() }
