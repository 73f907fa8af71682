//! The table: every setting once, in the order `config` and the README show them. Adding a
//! setting is one entry here (CONTRIBUTING.md); the files' reader, the flags, `config` and the
//! README table follow, and tests say what else to update (deployments/pixie.yaml, the README).

use super::{FlagOf, Kind, Spec};

/// Each entry: its constant, key in the settings files, `PIXIE_*` variable, flag (empty: none)
/// and the command taking it, default as written in a file, kind, and help.
macro_rules! settings {
    ($(($name:ident, $key:literal, $env:literal, $flag:literal, $of:ident, $default:literal, $kind:ident, $help:literal),)+) => {
        $(
            pub const $name: Spec = Spec {
                key: $key,
                env: $env,
                flag: $flag,
                flag_of: FlagOf::$of,
                default: $default,
                help: $help,
                kind: Kind::$kind,
            };
        )+

        /// Every setting, in the table's order.
        pub const ALL: [&Spec; [$($key),+].len()] = [$(&$name),+];
    };
}

settings! {
    (PROD_IMAGE, "images.prod", "PIXIE_PROD_IMAGE", "", None, "pixie-core:latest", Text,
        "Name of the production image build-prod makes and run-prod runs."),
    (THUMBNAILER_IMAGE, "images.thumbnailer", "PIXIE_THUMBNAILER_IMAGE", "", None, "pixie-thumbnailer:latest", Text,
        "Name of the thumbnailer plugin's production image (build-prod). A module with no `images.NAME` row gets pixie-NAME:latest."),
    (DEV_IMAGE, "images.dev", "PIXIE_DEV_IMAGE", "", None, "pixie-core-dev:latest", Text,
        "Name of the development image (Go + air)."),
    (GO_IMAGE, "base_images.go", "PIXIE_GO_IMAGE", "", None, "golang:1.26.8-alpine3.23", Text,
        "Go toolchain base image of every build (a local image where no registry is reachable)."),
    (RUNTIME_IMAGE, "base_images.runtime", "PIXIE_RUNTIME_IMAGE", "", None, "alpine:3.23.0", Text,
        "Runtime base of the production image (`scratch` works too)."),
    (POSTGRES_IMAGE, "service_images.postgres", "PIXIE_POSTGRES_IMAGE", "", None, "postgres:16-alpine", Text,
        "Postgres image of the stack (`--stack full`); its PG_MAJOR names the data volume. A local image where no registry is reachable."),
    (NATS_IMAGE, "service_images.nats", "PIXIE_NATS_IMAGE", "", None, "nats:2.15.3-alpine", Text,
        "NATS (JetStream) image of the stack (`--stack full`); a local image where no registry is reachable."),
    (S3_IMAGE, "service_images.s3", "PIXIE_S3_IMAGE", "", None, "versity/versitygw:v1.8.0", Text,
        "S3 server image of the stack (`--stack full`, versitygw); a local image where no registry is reachable."),
    (PLATFORM, "build.platform", "PIXIE_PLATFORM", "platform", BuildProd, "", Text,
        "Target platform, e.g. linux/arm64 (cross-compiled by the native Go toolchain, no emulation); empty: the engine's own."),
    (GOGC, "build.gogc", "PIXIE_GOGC", "gogc", BuildProd, "", Gogc,
        "GOGC for the compile step only: off, or a percentage; empty: Go's own heap sizing (docs/images.md \"GOGC\" says why)."),
    (GOFLAGS, "build.goflags", "PIXIE_GOFLAGS", "", None, "", Text,
        "GOFLAGS for the compile step only."),
    (VENDOR, "build.vendor", "PIXIE_VENDOR", "vendor", BuildProd, "false", Bool,
        "Refresh core/vendor (`cargo xtask vendor`), then build from it with no network at all."),
    (BUILDER, "build.builder", "PIXIE_BUILDER", "builder", BuildProd, "", Text,
        "buildx builder to build on (remote, kubernetes, docker-container drivers). buildx only."),
    (CACHE_FROM, "build.cache_from", "PIXIE_CACHE_FROM", "cache-from", BuildProd, "", Words,
        "Cache to import, in buildx syntax (type=registry,ref=R / type=gha / type=local,src=D) or a bare image ref (repeatable)."),
    (CACHE_TO, "build.cache_to", "PIXIE_CACHE_TO", "cache-to", BuildProd, "", Text,
        "Cache to export (type=registry,ref=R,mode=max / type=gha / type=local,dest=D / type=inline)."),
    (NETRC, "build.netrc", "PIXIE_NETRC", "netrc", BuildProd, "", Text,
        "A netrc file for private Go modules, passed as the BuildKit secret `netrc` (never a build arg)."),
    (SBOM_GENERATOR, "build.sbom_generator", "PIXIE_SBOM_GENERATOR", "sbom-generator", BuildProd, "", Text,
        "SBOM generator image for pushed images (buildx route); empty: BuildKit's default, docker/buildkit-syft-scanner."),
    (GOPROXY, "build.goproxy", "PIXIE_GOPROXY", "goproxy", BuildProd, "", Text,
        "GOPROXY of the module download step only (a private proxy first, e.g. `https://goproxy.corp,https://proxy.golang.org`); empty: Go's default."),
    (GOPRIVATE, "build.goprivate", "PIXIE_GOPRIVATE", "goprivate", BuildProd, "", Text,
        "GOPRIVATE of the module download step only (those modules skip the proxy and the checksum database)."),
    (GONOSUMDB, "build.gonosumdb", "PIXIE_GONOSUMDB", "gonosumdb", BuildProd, "", Text,
        "GONOSUMDB of the module download step only (modules from a private proxy the public checksum database cannot know)."),
    (STACK, "run.stack", "PIXIE_STACK", "stack", Stack, "embedded", Stack,
        "What run-* start: embedded (pixie-core alone, its data in one volume) or full (core on Postgres, S3 and NATS JetStream, each in its container)."),
    (PROJECT, "run.project", "PIXIE_PROJECT", "", None, "", Text,
        "Compose project prefix; empty: derived from the checkout's path."),
    (BIND, "run.bind", "PIXIE_BIND", "", None, "127.0.0.1", Addr,
        "Host address the ports are published on."),
    (PUBLISHED_HOST, "run.published_host", "PIXIE_PUBLISHED_HOST", "", None, "", Text,
        "Where this machine reaches the published ports, for the readiness probe (an engine on another host or in another network namespace); empty: run.bind."),
    (HTTP_PORT, "run.http_port", "PIXIE_HTTP_PORT", "http-port", Run, "8080", Port,
        "Host port published for HTTP."),
    (GRPC_PORT, "run.grpc_port", "PIXIE_GRPC_PORT", "grpc-port", Run, "9090", Port,
        "Host port published for gRPC."),
}

/// The README's settings table, generated from [`ALL`] (a test keeps the README equal to it).
pub fn markdown_table() -> String {
    let mut table =
        String::from("| key | env | flag | default | what it sets |\n|---|---|---|---|---|\n");
    for spec in ALL {
        let flag = if spec.flag.is_empty() {
            String::new()
        } else {
            format!("`--{}`", spec.flag)
        };
        let default = if spec.default.is_empty() {
            "(empty)".to_string()
        } else {
            format!("`{}`", spec.default)
        };
        table.push_str(&format!(
            "| `{}` | `{}` | {flag} | {default} | {} |\n",
            spec.key, spec.env, spec.help
        ));
    }
    table
}
