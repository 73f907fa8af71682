# Local Postgres image of pixie's stack, for machines that reach no registry (elsewhere the stack
# runs the public postgres image): Debian bookworm's postgresql-15 on a minimal rootfs that
# .ci/provision-stack-images makes with mmdebstrap and imports as ROOTFS_IMAGE. It keeps the
# official image's contract (postgres-entrypoint.sh), PG_MAJOR included: the xtask names the data
# volume by it, since a data folder of one major version does not open under another.
# Nothing runs here: the rootfs recipe made the postgres user (uid 999, as in the official image),
# the data and socket folders, and kept Debian's main cluster from being created.
ARG ROOTFS_IMAGE=pixie-stack/postgres-rootfs:missing
FROM ${ROOTFS_IMAGE}
ARG PG_VERSION=unknown
LABEL org.opencontainers.image.title="pixie-stack postgres" \
      org.opencontainers.image.description="PostgreSQL 15 from Debian bookworm, official image contract" \
      org.opencontainers.image.version="${PG_VERSION}"
# The server binaries first: /usr/bin has postgresql-common's perl wrappers of the same names.
ENV PG_MAJOR=15 \
    PG_VERSION=${PG_VERSION} \
    PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
# Over TCP: while the entrypoint initializes, the server listens on its socket only, so a
# socket probe would report ready too early. pg_isready needs no password (an answer asking
# for one counts as up) and no shell.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
  CMD ["pg_isready", "--host=127.0.0.1", "--port=5432", "--quiet"]
# Fast shutdown (the default SIGTERM waits for every client to leave).
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
