# Production images of the workspace's Go modules, one target per module: `core` (pixie-core, the
# default: last stage) and `thumbnailer` (pixie-thumbnailer). They share the `workspace`,
# `modules` stages and the Go caches; each module has its own compile stage (`build-NAME`),
# which binds only the sources that module compiles, so an edit in one module never reruns the
# other's compile. Built by `cargo xtask build-prod [--module NAME]`, which passes the base
# images and the version stamp. Needs BuildKit (cache, bind and secret mounts). No `# syntax=`
# line on purpose: it makes BuildKit fetch a frontend image, which machines without a registry
# cannot. (The file keeps its name: it is core's workspace, and the name is in the docs and the
# bench's baselines.)
#
# A module's image, by convention (CONTRIBUTING.md "A Go module"): module folder DIR, name NAME
# (DIR's last part), main package DIR/cmd/pixie-NAME, binary /usr/local/bin/pixie-NAME with a
# `healthcheck` subcommand, stages `build-NAME` and `NAME`. The xtask finds modules with such a
# main package in go.work and builds target NAME of each.

# Pinned defaults; machines without a registry pass local images (see .ci/provision).
ARG GO_IMAGE=golang:1.26.8-alpine3.23
ARG RUNTIME_IMAGE=alpine:3.23.0
# Where modules come from: `mod` (default) downloads them through GOPROXY into a cache mount;
# `vendor` compiles the workspace's vendor/ (`cargo xtask vendor`) and never touches the
# network, so `cargo xtask build-prod --vendor` can build with `docker build --network=none`.
# The default is written where the mode picks the workspace stage below.
ARG GO_MOD_MODE

# The compiler runs natively on the build machine and cross-compiles (CGO_ENABLED=0): no emulation.
# What the RUN steps do is deployments/docker/go-build.sh, which the xtask's builder container
# also runs on Podman before 5.4 (docs/engines.md): that route compiles outside this file and
# hands a module's final stage its ready compile stage (`--build-context build-NAME=DIR`), so
# everything a final stage takes from its `build-NAME` must be under /out.
# The workspace's module files: go.work and every module's go.mod/go.sum, one line per `use` of
# go.work. The modules build in workspace mode (they import each other), which reads them all.
# A vendored build adds the workspace's vendor/ (`go work vendor`, one tree at the root for
# every module); GO_MOD_MODE picks the stage, so a build in `mod` mode never reads vendor/ and
# one in `vendor` mode fails at once without it. (Not an optional `COPY vendo[r]`: Podman's
# buildah rejects a pattern that matches nothing.) Mounted rw (writes are discarded) so the
# mounts inside it get their mount points.
FROM scratch AS workspace-mod
COPY go.work go.work.sum /
COPY core/go.mod core/go.sum /core/
COPY proto/go.mod proto/go.sum /proto/
COPY plugins/thumbnailer/go.mod plugins/thumbnailer/go.sum /plugins/thumbnailer/

FROM workspace-mod AS workspace-vendor
COPY vendor /vendor/

# A stage of this file, not an image: there is no tag to pin. The default sits in the expansion,
# not on the ARG: buildah (Podman 4.x) finds a stage by name only with the passed build args.
# The LABEL gives the stage an image of its own: with --layers=false buildah removes each
# stage's image at the end, and a stage with no instruction shares its parent's, removed twice
# ("identifier is not an image").
# hadolint ignore=DL3006
FROM workspace-${GO_MOD_MODE:-mod} AS workspace
LABEL org.opencontainers.image.description="go.work, the modules' go.mod/go.sum and, vendored, vendor/"

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS modules
WORKDIR /src/core

ARG GO_MOD_MODE
# Modules first, keyed on go.mod/go.sum only, so a source edit never downloads again.
# Private modules: GOPROXY/GOPRIVATE/GONOSUMDB are declared in this stage only (ARGs end with
# their stage), so they reach the download and never the compile; the netrc is a BuildKit
# secret, never a build arg.
# The same step prepares the runtime stage's files (`rootfs`), since that stage has no RUN steps
# (so it works on scratch).
# Absolute mount targets: Podman 4.x (buildah) rejects relative ones ("must be an absolute path").
ARG GOPROXY= GOPRIVATE= GONOSUMDB=
RUN --mount=type=bind,from=workspace,target=/src,rw \
    --mount=type=bind,source=deployments/docker/go-build.sh,target=/src/deployments/docker/go-build.sh \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=secret,id=netrc,target=/root/.netrc \
    sh /src/deployments/docker/go-build.sh rootfs modules

# The compile of one module: MODULE and BINARY say which (go-build.sh); the xtask passes the same
# values (the Podman builder route runs go-build.sh with the build args as its environment).
FROM modules AS build-core
ARG GO_MOD_MODE MODULE=core BINARY=pixie-core
# Declared after the download so that layer is shared by every target platform.
ARG TARGETOS TARGETARCH
# GOGC and GOFLAGS reach the compile only (an empty GOGC is Go's default).
ARG VERSION=dev COMMIT=unknown BUILD_DATE=unknown GOGC= GOFLAGS=
RUN --mount=type=bind,from=workspace,target=/src,rw \
    --mount=type=bind,source=deployments/docker/go-build.sh,target=/src/deployments/docker/go-build.sh \
    --mount=type=bind,source=core,target=/src/core \
    --mount=type=bind,source=proto,target=/src/proto \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    sh /src/deployments/docker/go-build.sh compile

# The plugin imports core's shared packages (core/pkg) and the proto module, nothing else of core.
FROM modules AS build-thumbnailer
ARG GO_MOD_MODE MODULE=plugins/thumbnailer BINARY=pixie-thumbnailer
ARG TARGETOS TARGETARCH
ARG VERSION=dev COMMIT=unknown BUILD_DATE=unknown GOGC= GOFLAGS=
RUN --mount=type=bind,from=workspace,target=/src,rw \
    --mount=type=bind,source=deployments/docker/go-build.sh,target=/src/deployments/docker/go-build.sh \
    --mount=type=bind,source=plugins/thumbnailer,target=/src/plugins/thumbnailer \
    --mount=type=bind,source=core/pkg,target=/src/core/pkg \
    --mount=type=bind,source=proto,target=/src/proto \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    sh /src/deployments/docker/go-build.sh compile

# Just core's binary, for `--target binary -o type=local,dest=DIR` (reproducibility checks).
FROM scratch AS binary
COPY --from=build-core /out/rootfs/usr/local/bin/pixie-core /pixie-core

# Final stages: no RUN steps (they work on scratch), non-root, exec-form ENTRYPOINT.
FROM ${RUNTIME_IMAGE} AS thumbnailer
ARG VERSION=dev COMMIT=unknown BUILD_DATE=unknown
LABEL org.opencontainers.image.title="pixie-thumbnailer" \
      org.opencontainers.image.description="Thumbnailer plugin of the pixie self-hosted photo manager" \
      org.opencontainers.image.source="https://github.com/pixie-photos/pixie" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build-thumbnailer /out/rootfs/ /
ENV ZONEINFO=/usr/local/share/zoneinfo.zip
USER 65532:65532
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/pixie-thumbnailer", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pixie-thumbnailer"]

FROM ${RUNTIME_IMAGE} AS core
ARG VERSION=dev COMMIT=unknown BUILD_DATE=unknown
LABEL org.opencontainers.image.title="pixie-core" \
      org.opencontainers.image.description="Core of the pixie self-hosted photo manager" \
      org.opencontainers.image.source="https://github.com/pixie-photos/pixie" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build-core /out/rootfs/ /
COPY --from=build-core --chown=65532:65532 /out/data /data
ENV PIXIE_DATA_DIR=/data ZONEINFO=/usr/local/share/zoneinfo.zip
USER 65532:65532
EXPOSE 8080 9090
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/pixie-core", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pixie-core"]
