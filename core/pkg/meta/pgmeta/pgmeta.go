// Package pgmeta keeps photo metadata, the thumbnail index and the outbox
// of events in PostgreSQL (pgx, a bounded pgxpool): the stack's meta.Store,
// shared by every replica. The schema comes from versioned migrations
// embedded in the binary (Migrate). It depends on nothing of the APIs, so
// plugins can share it.
package pgmeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pixie-photos/pixie/core/pkg/events"
	"github.com/pixie-photos/pixie/core/pkg/meta"
)

// DefaultMaxConns bounds the pool unless the URL sets pool_max_conns.
const DefaultMaxConns = 10

// Store is safe for concurrent use, also by several processes on one
// database.
type Store struct {
	pool *pgxpool.Pool
	// server names the database in messages: host:port/dbname, no secret.
	server string
}

var _ meta.Store = (*Store)(nil)

// Open parses url (a postgres:// URL or key=value string, as libpq takes)
// and makes the pool; it connects lazily, so a database that is down is
// not an error here. connectTimeout bounds each connection attempt unless
// the URL sets connect_timeout.
func Open(url string, connectTimeout time.Duration) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("the database URL is not a valid postgres:// URL or key=value connection string")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return &Store{pool: pool, server: Describe(cfg.ConnConfig)}, nil
}

// Describe names a database without its secrets: host:port/dbname.
func Describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s/%s", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), cfg.Database)
}

// Server names the database: host:port/dbname.
func (s *Store) Server() string { return s.server }

// Close implements meta.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping implements meta.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.classify(s.pool.Ping(ctx))
}

const photoColumns = "id, filename, content_type, size_bytes, sha256, width, height, created_at"

func scanPhoto(row pgx.Row) (meta.Photo, error) {
	var p meta.Photo
	err := row.Scan(&p.ID, &p.Filename, &p.ContentType, &p.Size, &p.SHA256, &p.Width, &p.Height, &p.CreatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}

// Create implements meta.Store: the photo and its event commit together.
func (s *Store) Create(ctx context.Context, p meta.Photo) (stored meta.Photo, created bool, err error) {
	event, err := events.UploadedRecord(p)
	if err != nil {
		return meta.Photo{}, false, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO photos ("+photoColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sha256) DO NOTHING",
			p.ID, p.Filename, p.ContentType, p.Size, p.SHA256, p.Width, p.Height, p.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			// The same bytes are stored (perhaps by another replica that
			// committed while this insert waited on the unique index).
			stored, err = scanPhoto(tx.QueryRow(ctx, "SELECT "+photoColumns+" FROM photos WHERE sha256 = $1", p.SHA256))
			created = false
			return err
		}
		stored, created = p, true
		return insertEvent(ctx, tx, event)
	})
	if err != nil {
		return meta.Photo{}, false, s.classify(err)
	}
	return stored, created, nil
}

func insertEvent(ctx context.Context, tx pgx.Tx, e events.Record) error {
	_, err := tx.Exec(ctx, "INSERT INTO outbox (event_id, kind, payload) VALUES ($1, $2, $3)", e.ID, e.Kind, e.Payload)
	return err
}

// Get implements meta.Store.
func (s *Store) Get(ctx context.Context, id string) (meta.Photo, error) {
	p, err := scanPhoto(s.pool.QueryRow(ctx, "SELECT "+photoColumns+" FROM photos WHERE id = $1", id))
	return p, s.classify(err)
}

// FindBySHA256 implements meta.Store.
func (s *Store) FindBySHA256(ctx context.Context, hash string) (meta.Photo, bool, error) {
	p, err := scanPhoto(s.pool.QueryRow(ctx, "SELECT "+photoColumns+" FROM photos WHERE sha256 = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.Photo{}, false, nil
	}
	return p, err == nil, s.classify(err)
}

// List implements meta.Store.
func (s *Store) List(ctx context.Context, limit int, before string) ([]meta.Photo, error) {
	var rows pgx.Rows
	var err error
	if before == "" {
		rows, err = s.pool.Query(ctx, "SELECT "+photoColumns+" FROM photos ORDER BY id DESC LIMIT $1", limit)
	} else {
		rows, err = s.pool.Query(ctx, "SELECT "+photoColumns+" FROM photos WHERE id < $1 ORDER BY id DESC LIMIT $2", before, limit)
	}
	if err != nil {
		return nil, s.classify(err)
	}
	photos, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Photo, error) { return scanPhoto(row) })
	return photos, s.classify(err)
}

// Delete implements meta.Store: the photo's row, its thumbnail index rows
// (by the foreign key) and its event commit together.
func (s *Store) Delete(ctx context.Context, id string) (meta.Photo, error) {
	event, err := events.DeletedRecord(id, time.Now())
	if err != nil {
		return meta.Photo{}, err
	}
	var p meta.Photo
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		p, err = scanPhoto(tx.QueryRow(ctx, "DELETE FROM photos WHERE id = $1 RETURNING "+photoColumns, id))
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, event)
	})
	return p, s.classify(err)
}

// Existing implements meta.Store.
func (s *Store) Existing(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM photos WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, s.classify(err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.classify(err)
	}
	existing := make(map[string]bool, len(found))
	for _, id := range found {
		existing[id] = true
	}
	return existing, nil
}

// AddThumbnail implements meta.Store.
func (s *Store) AddThumbnail(ctx context.Context, id string, size int) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO thumbnails (photo_id, size) VALUES ($1, $2) ON CONFLICT DO NOTHING", id, size)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation: the photo is gone
		return meta.ErrNotFound
	}
	return s.classify(err)
}

// Thumbnails implements meta.Store.
func (s *Store) Thumbnails(ctx context.Context, id string) ([]int, error) {
	rows, err := s.pool.Query(ctx, "SELECT t.size FROM photos p LEFT JOIN thumbnails t ON t.photo_id = p.id WHERE p.id = $1 ORDER BY t.size", id)
	if err != nil {
		return nil, s.classify(err)
	}
	sizes, err := pgx.CollectRows(rows, pgx.RowTo[*int])
	if err != nil {
		return nil, s.classify(err)
	}
	if len(sizes) == 0 {
		return nil, meta.ErrNotFound
	}
	var recorded []int
	for _, size := range sizes {
		if size != nil { // the photo's row alone, when it has none
			recorded = append(recorded, *size)
		}
	}
	return recorded, nil
}

// inTx runs fn in a transaction, once more if the first attempt failed
// before anything reached the server (a pooled connection that died while
// idle, typically after the server restarted).
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil {
		err = pgx.BeginFunc(ctx, s.pool, fn)
	}
	return err
}

// classify maps pgx errors to meta's: no row is ErrNotFound; a server
// that cannot be reached, refuses connections or is shutting down is
// ErrUnavailable, named with the database.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.ErrNotFound
	}
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 53: insufficient resources;
		// 57P01-03: shutting down, or starting up.
		if !strings.HasPrefix(pgErr.Code, "08") && !strings.HasPrefix(pgErr.Code, "53") && !strings.HasPrefix(pgErr.Code, "57P0") {
			return err
		}
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded):
	default:
		return err
	}
	// pgx puts each connection attempt on a line of its own.
	oneLine := strings.NewReplacer("\n\t", "; ", "\n", " ").Replace(err.Error())
	return fmt.Errorf("postgres at %s %w: %s", s.server, meta.ErrUnavailable, oneLine)
}
