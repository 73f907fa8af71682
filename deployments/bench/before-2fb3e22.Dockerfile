# BASELINE FOR THE BENCHMARK ONLY — a slow shape we replaced; do not use.
#
# pixie commit 2fb3e22 (its HEAD), `deployments/docker/core.Dockerfile` there: the stronger
# "before", against which the bench states its headline ratio. `cargo xtask bench` builds it as
# the `before_2fb3e22` setup, with a copy of the workspace as context and the same base images
# as the real build. It already copies go.mod/go.sum and runs `go mod download` in layers of
# their own, so an edit reuses the downloaded modules; but it then builds with `go mod tidy`,
# `GOPROXY=direct` and `-a` (every package, the standard library's included, recompiled).
# Kept as it was, save what our machines cannot run or our layout lacks: `apk add git` and
# `apk add ca-certificates tzdata` (no Alpine mirror here; the local Go image is not Alpine's),
# the root go.mod's download (our modules live in core/ and proto/), and the UI plugin, keys and JWT
# settings of pixie's runtime stage (nothing of ours). Its `GOARCH=amd64` is pixie's.

ARG GO_IMAGE=golang:1.26.8-alpine3.23
ARG RUNTIME_IMAGE=alpine:3.23.0

FROM ${GO_IMAGE} AS builder
WORKDIR /app

# Copy go.mod and go.sum files first (better layer caching); ours also needs the proto module's,
# which core's go.mod replaces with ../proto
COPY core/go.mod core/go.sum ./core/
COPY proto/go.mod proto/go.sum ./proto/

# Download dependencies (this layer will be cached unless dependencies change)
# pixie's own `cd core &&`, kept as it was rather than made a WORKDIR:
# hadolint ignore=DL3003
RUN cd core && go mod download

# Copy only necessary files for the build
COPY core/ ./core/
COPY proto/ ./proto/

# Build with optimizations (pixie builds its module root; ours is ./cmd/pixie-core)
WORKDIR /app/core
RUN go mod tidy && \
    GOPROXY=direct \
    CGO_ENABLED=0 \
    GOOS=linux \
    GOARCH=amd64 \
    go build -ldflags="-w -s" \
    -trimpath \
    -a \
    -o ../pixie-core ./cmd/pixie-core

FROM ${RUNTIME_IMAGE}
WORKDIR /app
COPY --from=builder /app/pixie-core .
EXPOSE 8080 9090
CMD ["/app/pixie-core"]
