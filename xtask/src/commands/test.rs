//! `test`: every check CI runs, in one plan: Go format, vet and race tests, hadolint on the
//! Dockerfiles, rustfmt, clippy, and the xtask's tests including those through the real engine.

use anyhow::Result;

use super::{Command, Live};
use crate::ctx::{Ctx, Needs};
use crate::plan::{Plan, Step};
use crate::workspace::{BENCH_DOCKERFILE, DEV_DOCKERFILE, PROD_DOCKERFILE};

pub struct Test;

impl Command for Test {
    fn needs(&self) -> Needs {
        Needs::Engine
    }

    /// The engine tests fail on their own, with their own message, when the daemon is down.
    fn preflight(&self, _ctx: &Ctx) -> Result<Live> {
        Ok(Live::default())
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        Ok(plan(ctx))
    }
}

pub fn plan(ctx: &Ctx) -> Plan {
    let root = &ctx.ws.root;
    let core = ctx.ws.path("core");
    let cargo = &ctx.host.cargo;
    let steps = vec![
        Step::new("gofmt", "sh", &core)
            .args(["-c", r#"unformatted=$(gofmt -l .) && [ -z "$unformatted" ] || { echo "gofmt -w needed: $unformatted" >&2; exit 1; }"#]),
        Step::new("go vet", "go", &core).args(["vet", "./..."]),
        Step::new("go test -race", "go", &core).args(["test", "-race", "-count=1", "./..."]).streamed(),
        Step::new("tidy --check", &ctx.host.xtask, root).args(["tidy", "--check"]),
        // This very binary: the check must use the same pins as `cargo xtask proto`.
        Step::new("proto --check", &ctx.host.xtask, root)
            .args(["proto", "--check"]),
        Step::new("hadolint", "hadolint", root).args([PROD_DOCKERFILE, DEV_DOCKERFILE, BENCH_DOCKERFILE]),
        Step::new("cargo fmt --check", cargo, root).args(["fmt", "--all", "--check"]),
        Step::new("clippy", cargo, root)
            .args(["clippy", "--workspace", "--all-targets", "--features", "xtask/engine-tests", "--", "-D", "warnings"])
            .streamed(),
        Step::new("cargo test (with engine tests)", cargo, root)
            .args(["test", "--workspace", "--features", "xtask/engine-tests"])
            .envs(ctx.docker_env())
            .streamed(),
    ];
    Plan {
        steps: steps.into_iter().map(Into::into).collect(),
        cleanup: Vec::new(),
        notes: vec![ctx.engine().note()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;

    #[test]
    fn runs_engine_tests_and_lints_everything() {
        let plan = plan(&ctx_with(BuildRoute::BuiltIn, &[], Flags::new()));
        let lines: Vec<String> = plan.commands().iter().map(|s| s.shell_line()).collect();
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
        assert!(
            lines.iter().any(|l| l.ends_with("xtask tidy --check")),
            "{lines:#?}"
        );
    }
}
