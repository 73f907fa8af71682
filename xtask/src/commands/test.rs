//! `test`: every check CI runs, in one plan: Go format, vet and race tests, hadolint on the
//! Dockerfiles, rustfmt, clippy, and the xtask's tests including those through the real engine.

use super::Ctx;
use crate::plan::{Plan, Step};
use crate::workspace::{BENCH_DOCKERFILE, DEV_DOCKERFILE, PROD_DOCKERFILE};

pub fn plan(ctx: &Ctx) -> Plan {
    let root = &ctx.ws.root;
    let core = ctx.ws.path("core");
    // The cargo that runs us, so toolchain overrides (rustup, CARGO=...) carry over.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let steps = vec![
        Step::new("gofmt", "sh", &core)
            .args(["-c", r#"unformatted=$(gofmt -l .) && [ -z "$unformatted" ] || { echo "gofmt -w needed: $unformatted" >&2; exit 1; }"#]),
        Step::new("go vet", "go", &core).args(["vet", "./..."]),
        Step::new("go test -race", "go", &core).args(["test", "-race", "-count=1", "./..."]).streamed(),
        // This very binary: the check must use the same pins as `cargo xtask proto`.
        Step::new("proto --check", std::env::current_exe().unwrap_or_else(|_| "cargo-xtask".into()), root)
            .args(["proto", "--check"]),
        Step::new("hadolint", "hadolint", root).args([PROD_DOCKERFILE, DEV_DOCKERFILE, BENCH_DOCKERFILE]),
        Step::new("cargo fmt --check", &cargo, root).args(["fmt", "--all", "--check"]),
        Step::new("clippy", &cargo, root)
            .args(["clippy", "--workspace", "--all-targets", "--features", "xtask/engine-tests", "--", "-D", "warnings"])
            .streamed(),
        Step::new("cargo test (with engine tests)", &cargo, root)
            .args(["test", "--workspace", "--features", "xtask/engine-tests"])
            .envs(ctx.docker_env())
            .streamed(),
    ];
    Plan {
        steps,
        cleanup: Vec::new(),
        notes: vec![ctx.engine_note()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::ctx_with;
    use crate::config::Overrides;
    use crate::engine::BuildRoute;

    #[test]
    fn runs_engine_tests_and_lints_everything() {
        let plan = plan(&ctx_with(BuildRoute::BuiltIn, &[], Overrides::default()));
        let lines: Vec<String> = plan.steps.iter().map(|s| s.shell_line()).collect();
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        assert!(
            has("test --workspace --features xtask/engine-tests"),
            "{lines:#?}"
        );
        assert!(has("go test -race"), "{lines:#?}");
        assert!(has(
            "hadolint deployments/docker/core.Dockerfile deployments/docker/core.dev.Dockerfile deployments/bench/before.Dockerfile"
        ));
        assert!(has("-D warnings"));
        assert!(has("go vet ./..."));
    }
}
