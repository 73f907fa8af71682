package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pixie-photos/pixie/core/pkg/meta"
	"github.com/pixie-photos/pixie/core/pkg/meta/pgmeta"
	"github.com/pixie-photos/pixie/core/pkg/settings"
)

// migrateWait is how long migrate waits for Postgres to accept
// connections: it often runs right after the database starts.
const migrateWait = 30 * time.Second

// migrate applies the migrations the database lacks, as a one-shot step
// (a container that runs before the servers): one line on stdout saying
// what it did, exit 0 also when there was nothing to do.
func migrate(getenv func(string) string, stdout, stderr io.Writer) int {
	dbURL, warnings, err := settings.LoadDatabaseURL(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "pixie-core migrate: %v\n", err)
		return exitUsage
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "pixie-core migrate: warning: %s\n", w)
	}
	pg, err := pgmeta.Open(dbURL, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "pixie-core migrate: %v\n", err)
		return exitUsage
	}
	defer pg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), migrateWait)
	defer cancel()
	var last error
	for {
		res, err := pg.Migrate(ctx, pgmeta.Migrations)
		switch {
		case err == nil && res.Applied == 0:
			fmt.Fprintf(stdout, "schema of %s is current (version %d)\n", pg.Server(), res.Version)
			return exitOK
		case err == nil:
			fmt.Fprintf(stdout, "applied %d migration(s) to %s: schema version %d\n", res.Applied, pg.Server(), res.Version)
			return exitOK
		case !errors.Is(err, meta.ErrUnavailable):
			fmt.Fprintf(stderr, "pixie-core migrate: %v\n", err)
			return exitFail
		case ctx.Err() == nil:
			last = err // the database may still be starting
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		if last == nil {
			last = err
		}
		fmt.Fprintf(stderr, "pixie-core migrate: no answer within %v: %v\n", migrateWait, last)
		return exitFail
	}
}
