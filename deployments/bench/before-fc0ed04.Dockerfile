# BASELINE FOR THE BENCHMARK ONLY — a slow shape we replaced; do not use.
#
# pixie commit fc0ed04: the shape the seed's notes quote. `cargo xtask bench` builds it as the
# `before_fc0ed04` setup, with a copy of the workspace as context and the same base images as
# the real build (GO_IMAGE, RUNTIME_IMAGE build args). The whole source is copied before
# anything else, so every edit invalidates the one layer that then re-resolves modules
# (`go mod tidy`, which needs the network), downloads them and compiles everything from
# scratch — no cache mounts, no separate dependency layer.

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
