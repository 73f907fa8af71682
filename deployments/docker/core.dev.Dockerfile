# Development image: Go plus air. The source is not in the image: compose.dev.yaml mounts core/
# and air rebuilds and restarts pixie-core on every saved file. Built by `cargo xtask build-dev`.

ARG GO_IMAGE=golang:1.26.8-alpine3.23
FROM ${GO_IMAGE}
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOPATH=/go GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build \
    GOFLAGS=-buildvcs=false

# air's module path is github.com/air-verse/air; the old cosmtrek/air path no longer installs.
ARG AIR_VERSION=v1.67.4
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOBIN=/usr/local/bin go install github.com/air-verse/air@${AIR_VERSION}

COPY deployments/docker/air.toml /etc/pixie/air.toml
WORKDIR /src/core
# AIR_POLL=true watches by polling, for bind mounts that miss file events (macOS, WSL).
ENV PIXIE_DATA_DIR=/data AIR_POLL=false
EXPOSE 8080 9090
ENTRYPOINT ["/bin/sh", "-c", "exec air -c /etc/pixie/air.toml -build.poll \"$AIR_POLL\""]
