package pgmeta

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pixie-photos/pixie/core/pkg/events"
)

// relayLock is the advisory lock of the process that drains the outbox:
// one at a time, so events leave in the order they were written.
const relayLock int64 = 0x70697869_65000002 // "pixie" + 2

// DrainOutbox hands up to max events, oldest first, to publish, one at a
// time, stopping at its first error, and removes those published. It
// returns how many were published; 0 with no error when the outbox is
// empty or another process is draining it. A crash between publishing and
// removing makes the event publish again later, with the same ID.
func (s *Store) DrainOutbox(ctx context.Context, max int, publish func(context.Context, events.Record) error) (int, error) {
	published := 0
	var publishErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", relayLock).Scan(&mine); err != nil || !mine {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT seq, event_id, kind, payload FROM outbox ORDER BY seq LIMIT $1", max)
		if err != nil {
			return err
		}
		type pending struct {
			seq    int64
			record events.Record
		}
		batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pending, error) {
			var p pending
			err := row.Scan(&p.seq, &p.record.ID, &p.record.Kind, &p.record.Payload)
			return p, err
		})
		if err != nil {
			return err
		}
		var done []int64
		for _, p := range batch {
			if publishErr = publish(ctx, p.record); publishErr != nil {
				break
			}
			done = append(done, p.seq)
		}
		if len(done) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, "DELETE FROM outbox WHERE seq = ANY($1)", done); err != nil {
			return err
		}
		published = len(done)
		return nil
	})
	if err != nil {
		return 0, s.classify(err)
	}
	if publishErr != nil {
		return published, fmt.Errorf("publish: %w", publishErr)
	}
	return published, nil
}

// OutboxPending counts the events not yet published.
func (s *Store) OutboxPending(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n)
	return n, s.classify(err)
}
