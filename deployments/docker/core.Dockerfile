# Production image of pixie-core. Built by `cargo xtask build-prod`, which passes the base images
# and the version stamp. Needs BuildKit (cache, bind and secret mounts). No `# syntax=` line on
# purpose: it makes BuildKit fetch a frontend image, which machines without a registry cannot.

# Pinned defaults; machines without a registry pass local images (see .ci/provision).
ARG GO_IMAGE=golang:1.26.8-alpine3.23
ARG RUNTIME_IMAGE=alpine:3.23.0

# The compiler runs natively on the build machine and cross-compiles (CGO_ENABLED=0): no emulation.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS modules
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOPATH=/go GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
WORKDIR /src/core

# Where modules come from: `mod` (default) downloads them through GOPROXY into a cache mount;
# `vendor` compiles core/vendor (`cargo xtask vendor`) and never touches the network, so
# `cargo xtask build-prod --vendor` can build with `docker build --network=none`.
ARG GO_MOD_MODE=mod
# Modules first, keyed on go.mod/go.sum only, so a source edit never downloads again.
# Private modules: GOPROXY/GOPRIVATE/GONOSUMDB are declared in this stage only (ARGs end with
# their stage), so they reach the download and never the compile; the netrc is a BuildKit
# secret, never a build arg.
# The same step prepares the runtime stage's files, since that stage has no RUN steps (so it
# works on scratch): one container start fewer, which Podman < 5.4 pays on every build (about
# 0.45 s there: every step reruns, see README "Supported engines"). uid/gid 65532: fixed,
# non-root, and not 65534 (nobody), which other processes may share.
# Absolute mount targets: Podman 4.x (buildah) rejects relative ones ("must be an absolute path").
ARG GOPROXY= GOPRIVATE= GONOSUMDB=
RUN --mount=type=bind,source=core/go.mod,target=/src/core/go.mod \
    --mount=type=bind,source=core/go.sum,target=/src/core/go.sum \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=secret,id=netrc,target=/root/.netrc \
    mkdir -p /out/rootfs/etc/ssl/certs /out/rootfs/usr/local/share /out/rootfs/tmp /out/data \
 && chmod 1777 /out/rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ \
 && cp "$(go env GOROOT)/lib/time/zoneinfo.zip" /out/rootfs/usr/local/share/zoneinfo.zip \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\npixie:x:65532:65532:pixie:/data:/sbin/nologin\n' >/out/rootfs/etc/passwd \
 && printf 'root:x:0:\npixie:x:65532:\n' >/out/rootfs/etc/group \
 && case "$GO_MOD_MODE" in \
      mod) go mod download ;; \
      vendor) echo "GO_MOD_MODE=vendor: modules come from core/vendor, nothing to download" ;; \
      *) echo "GO_MOD_MODE must be mod or vendor, not '$GO_MOD_MODE'" >&2; exit 1 ;; \
    esac

FROM modules AS build
ARG GO_MOD_MODE=mod
# Declared after the download so that layer is shared by every target platform.
ARG TARGETOS TARGETARCH
# GOGC and GOFLAGS reach the compile only (an empty GOGC is Go's default).
ARG VERSION=dev COMMIT=unknown BUILD_DATE=unknown GOGC= GOFLAGS=
RUN --mount=type=bind,source=core,target=/src/core \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    if [ "$GO_MOD_MODE" = vendor ]; then \
      [ -f vendor/modules.txt ] || { echo "GO_MOD_MODE=vendor needs core/vendor: run cargo xtask vendor" >&2; exit 1; }; \
      export GOFLAGS="$GOFLAGS -mod=vendor" GOPROXY=off; \
    else \
      export GOFLAGS="$GOFLAGS -mod=readonly"; \
    fi \
 && GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= \
        -X github.com/pixie-photos/pixie/core/internal/buildinfo.Version=${VERSION} \
        -X github.com/pixie-photos/pixie/core/internal/buildinfo.Commit=${COMMIT} \
        -X github.com/pixie-photos/pixie/core/internal/buildinfo.Date=${BUILD_DATE}" \
      -o /out/rootfs/usr/local/bin/pixie-core ./cmd/pixie-core

# Just the binary, for `--target binary -o type=local,dest=DIR` (reproducibility checks).
FROM scratch AS binary
COPY --from=build /out/rootfs/usr/local/bin/pixie-core /pixie-core

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=dev COMMIT=unknown BUILD_DATE=unknown
LABEL org.opencontainers.image.title="pixie-core" \
      org.opencontainers.image.description="Core of the pixie self-hosted photo manager" \
      org.opencontainers.image.source="https://github.com/pixie-photos/pixie" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /out/rootfs/ /
COPY --from=build --chown=65532:65532 /out/data /data
ENV PIXIE_DATA_DIR=/data ZONEINFO=/usr/local/share/zoneinfo.zip
USER 65532:65532
EXPOSE 8080 9090
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/pixie-core", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pixie-core"]
