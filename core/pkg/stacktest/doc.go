// Package stacktest gives tests the stack's real servers: PostgreSQL 15,
// an S3 server (versitygw) and NATS with JetStream. It is a test kit:
// only _test.go files import it.
//
// # Environment contract
//
// Everything comes from these variables, read here and nowhere else:
//
//	PIXIE_TEST_DATABASE_URL    a Postgres server where tests may create databases
//	                           (a superuser URL, e.g. postgres://pixie@127.0.0.1:5432/postgres)
//	PIXIE_TEST_S3_ENDPOINT     an S3 server, e.g. http://127.0.0.1:7070
//	PIXIE_TEST_S3_ACCESS_KEY   its root access key
//	PIXIE_TEST_S3_SECRET_KEY   its root secret key
//	PIXIE_TEST_NATS_URL        a NATS server with JetStream, e.g. nats://127.0.0.1:4222
//	PIXIE_TEST_POSTGRES_BIN    folder of initdb and postgres (Debian: /usr/lib/postgresql/15/bin)
//	PIXIE_TEST_NATS_SERVER     the nats-server binary
//	PIXIE_TEST_VERSITYGW       the versitygw binary
//	PIXIE_TEST_STACK_REQUIRED  1: fail instead of skipping when something is missing (CI)
//
// The three binaries fall back to PIXIE_CI_POSTGRES_BIN, PIXIE_CI_NATS_SERVER
// and PIXIE_CI_VERSITYGW, the lines `sudo bash .ci/provision-stack` prints.
// Fault tests always start private servers from the binaries, so the
// binaries are required; the five address variables are optional as a
// set: `cargo xtask test` starts the servers and passes their addresses,
// and when they are unset Main starts one private set for the package.
//
// Every private server listens on a random free loopback port, keeps its
// data in a temporary folder, dies with the test process (Linux
// Pdeathsig) and is stopped and removed by the test's cleanup. Tests never
// share state on shared servers: each gets a fresh database, bucket and
// NATS subject prefix (Fresh).
//
// # Running the stack suite by hand
//
//	export $(sudo bash .ci/provision-stack)
//	cd core && go test -race ./internal/stacksuite
package stacktest
