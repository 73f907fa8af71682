package pgmeta

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var embedded embed.FS

// Migrations are the schema versions this binary knows, applied in order.
var Migrations = mustMigrations(embedded, "migrations")

// Migration is one versioned SQL file, migrations/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads dir of fsys: every file must be NNNN_name.sql, with
// versions 1, 2, 3… without gaps.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name it NNNN_name.sql", e.Name())
		}
		sql, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		version, _ := strconv.Atoi(m[1])
		ms = append(ms, Migration{Version: version, Name: m[2], SQL: string(sql)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: versions must count 1, 2, 3… without gaps", m.Version, m.Name)
		}
	}
	return ms, nil
}

func mustMigrations(fsys fs.FS, dir string) []Migration {
	ms, err := LoadMigrations(fsys, dir)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return ms
}

// migrateLock is the advisory lock that one migrating process holds.
const migrateLock int64 = 0x70697869_65000001 // "pixie" + 1

// SchemaVersion is the version of the database's schema, 0 before any
// migration: a process that uses the schema without migrating it (a
// plugin) waits until it is at least the version it knows.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var version int
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&version)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		return 0, nil
	}
	return version, s.classify(err)
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	// Applied counts the migrations applied by this call.
	Applied int
	// Version is the schema version now.
	Version int
}

// Migrate applies the migrations the database lacks, each in a
// transaction of its own (so a failing one leaves the schema as it was),
// holding an advisory lock so that processes starting together apply each
// once. It refuses a database whose schema is newer than ms.
func (s *Store) Migrate(ctx context.Context, ms []Migration) (MigrateResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return MigrateResult{}, s.classify(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return MigrateResult{}, s.classify(err)
	}
	// The lock ends with the session if the unlock cannot be sent.
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock) }()

	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	if err != nil {
		return MigrateResult{}, s.classify(err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return MigrateResult{}, s.classify(err)
	}
	if current > len(ms) {
		return MigrateResult{Version: current}, fmt.Errorf("the database schema is at version %d, newer than this pixie-core knows (%d): run a newer pixie-core", current, len(ms))
	}
	res := MigrateResult{Version: current}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("migration %04d_%s failed (the schema stays at version %d): %w", m.Version, m.Name, res.Version, s.classify(err))
		}
		res.Applied++
		res.Version = m.Version
	}
	return res, nil
}
