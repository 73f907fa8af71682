#!/bin/sh
# The Go side of a production image: its runtime files, its module download and its compile, in
# one place for both routes that build it, so both make the same binary with the same flags:
# the Dockerfile's RUN steps (BuildKit; Podman 5.4+) and, on Podman before 5.4, the xtask's
# long-lived builder container (xtask/src/docker/builder.rs), whose output the Dockerfile's
# runtime stage then copies as if the compile stage had made it.
#
#   go-build.sh STEP...     STEP: rootfs, modules or compile, in that order
#
# Read from the environment (the Dockerfile's build args, or the builder's `exec --env`):
#   OUT          where the image's files go: OUT/rootfs is copied to /, OUT/data to /data
#   MODULE       the Go module's folder under /src (core, plugins/thumbnailer)
#   BINARY       the binary's name (/usr/local/bin/BINARY); by convention its main package is
#                MODULE/cmd/BINARY, and the -X stamps go to the module's internal/buildinfo
#   GO_MOD_MODE  mod: modules through GOPROXY; vendor: MODULE/vendor, and no network at all
#   VERSION COMMIT BUILD_DATE    stamped into BUILDINFO
#   TARGETOS TARGETARCH          the platform compiled for (the native toolchain cross-compiles)
#   GOFLAGS GOGC                 the compile's own
set -eu

OUT=${OUT:-/out}
MODULE=${MODULE:-core}
BINARY=${BINARY:-pixie-core}
GO_MOD_MODE=${GO_MOD_MODE:-mod}
export CGO_ENABLED=0 GOTOOLCHAIN=local GOPATH=/go GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build

# Files the runtime stage copies, which has no RUN steps (so it works on scratch). uid/gid 65532:
# fixed, non-root, and not 65534 (nobody), which other processes may share.
rootfs() {
  mkdir -p "$OUT/rootfs/etc/ssl/certs" "$OUT/rootfs/usr/local/share" "$OUT/rootfs/tmp" "$OUT/data"
  chmod 1777 "$OUT/rootfs/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$OUT/rootfs/etc/ssl/certs/"
  cp "$(go env GOROOT)/lib/time/zoneinfo.zip" "$OUT/rootfs/usr/local/share/zoneinfo.zip"
  printf 'root:x:0:0:root:/root:/sbin/nologin\npixie:x:65532:65532:pixie:/data:/sbin/nologin\n' >"$OUT/rootfs/etc/passwd"
  printf 'root:x:0:\npixie:x:65532:\n' >"$OUT/rootfs/etc/group"
}

modules() {
  cd "/src/$MODULE"
  case "$GO_MOD_MODE" in
    mod) go mod download ;;
    vendor) echo "GO_MOD_MODE=vendor: modules come from $MODULE/vendor, nothing to download" ;;
    *) echo "GO_MOD_MODE must be mod or vendor, not '$GO_MOD_MODE'" >&2; exit 1 ;;
  esac
}

compile() {
  cd "/src/$MODULE"
  if [ "$GO_MOD_MODE" = vendor ]; then
    [ -f vendor/modules.txt ] || { echo "GO_MOD_MODE=vendor needs $MODULE/vendor: run cargo xtask vendor" >&2; exit 1; }
    export GOFLAGS="${GOFLAGS:-} -mod=vendor" GOPROXY=off
  else
    export GOFLAGS="${GOFLAGS:-} -mod=readonly"
  fi
  buildinfo="$(sed -n 's/^module[[:space:]]*//p' go.mod)/internal/buildinfo"
  GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-$(go env GOHOSTARCH)} go build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= \
      -X $buildinfo.Version=${VERSION:-dev} \
      -X $buildinfo.Commit=${COMMIT:-unknown} \
      -X $buildinfo.Date=${BUILD_DATE:-unknown}" \
    -o "$OUT/rootfs/usr/local/bin/$BINARY" "./cmd/$BINARY"
}

[ $# -gt 0 ] || { echo "usage: go-build.sh rootfs|modules|compile..." >&2; exit 2; }
for step in "$@"; do
  case "$step" in
    rootfs | modules | compile) "$step" ;;
    *) echo "go-build.sh: no step '$step'; the steps are rootfs, modules and compile" >&2; exit 2 ;;
  esac
done
