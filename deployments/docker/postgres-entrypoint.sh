#!/bin/bash
# Entrypoint of the local Postgres image (postgres.Dockerfile), honouring the official image's
# contract where pixie's stack uses it:
#   POSTGRES_USER (default postgres), POSTGRES_DB (default: the user's name),
#   POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
#   POSTGRES_INITDB_ARGS, PGDATA; initdb only on an empty data folder; `postgres` runs as the
#   non-root postgres user. Arguments starting with `-` are handed to postgres.
# Started as root (the default, like the official image) it gives the data folder to postgres,
# copies the password file where postgres can read it (a secret mounted by compose keeps the host
# file's owner and mode) and runs itself again as postgres. The password is never put in the
# environment: initdb reads it from a file that is removed before the server starts.
set -Eeuo pipefail

log() { printf 'postgres-entrypoint: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [ "${1:0:1}" = - ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi

: "${PGDATA:?PGDATA must name the data folder}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
# Where root leaves the password for the postgres user (tmpfs-like /run, never the data volume).
handover=/run/postgresql/initdb-password

initialized() { [ -s "$PGDATA/PG_VERSION" ]; }

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  chmod 2775 /run/postgresql
  rm -f "$handover"
  if ! initialized && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    [ -r "$POSTGRES_PASSWORD_FILE" ] || die "POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE cannot be read: mount the secret there"
    install -m 0600 -o postgres -g postgres "$POSTGRES_PASSWORD_FILE" "$handover"
  fi
  # Root's capabilities end with the switch to postgres (no inheritable ones pass on).
  exec setpriv --reuid=postgres --regid=postgres --init-groups --inh-caps=-all "$0" "$@"
fi

if ! initialized; then
  [ -z "$(ls -A "$PGDATA")" ] || die "$PGDATA is neither empty nor a Postgres data folder (no PG_VERSION): mount an empty volume there"
  pwfile=
  if [ -s "$handover" ]; then
    pwfile=$handover
  elif [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    [ -r "$POSTGRES_PASSWORD_FILE" ] || die "POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE cannot be read by uid $(id -u): start the container as root or make the file readable"
    pwfile=$POSTGRES_PASSWORD_FILE
  elif [ -n "${POSTGRES_PASSWORD:-}" ]; then
    pwfile=$(mktemp /run/postgresql/initdb-password.XXXXXX)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    unset POSTGRES_PASSWORD
  elif [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    die "the database is not initialized and no superuser password is set: set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD), or POSTGRES_HOST_AUTH_METHOD=trust"
  fi
  log "initializing $PGDATA for user $POSTGRES_USER, database $POSTGRES_DB"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  initdb --username="$POSTGRES_USER" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
    ${pwfile:+--pwfile="$pwfile"} ${POSTGRES_INITDB_ARGS:-} >&2
  [ -z "$pwfile" ] || [ "$pwfile" = "${POSTGRES_PASSWORD_FILE:-}" ] || rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    # A server on the socket only: nothing outside the container sees it before it is ready.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >&2
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname=postgres \
      --set=db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >&2
    pg_ctl -D "$PGDATA" -m fast -w stop >&2
  fi
  log "initialized; starting the server"
fi
rm -f "$handover"

exec "$@"
