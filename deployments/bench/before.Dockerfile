# BASELINE FOR THE BENCHMARK ONLY — the slow shape we replaced; do not use.
#
# `cargo xtask bench` builds this as the "before" setup, with a copy of the workspace as context
# and the same base images as the real build (GO_IMAGE, RUNTIME_IMAGE build args). It is slow on
# purpose: the whole source is copied before anything else, so every edit invalidates the one
# layer that then re-resolves modules (`go mod tidy`, which needs the network), downloads them
# and compiles everything from scratch — no cache mounts, no separate dependency layer.

ARG GO_IMAGE=golang:1.26.8-alpine3.23
ARG RUNTIME_IMAGE=alpine:3.23.0

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY . .
WORKDIR /src/core/cmd/pixie-core
# The slow step we replaced, kept as it was: tidy and build in one layer.
RUN go mod tidy && CGO_ENABLED=0 GOOS=linux go build -o /src/pixie-core .

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/pixie-core /usr/local/bin/pixie-core
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/pixie-core"]
