//! `test`: every check CI runs, in one plan: Go format, vet and race tests of every module go.work
//! uses, hadolint on the Dockerfiles, rustfmt, clippy, and the xtask's tests including those through
//! the real engine:
//! on the engine the xtask detects (A), then the engine tests again on every further engine the
//! environment configures (`PIXIE_ENGINE_B_*`: a Docker engine, `PIXIE_ENGINE_C_*`: Podman, as
//! `.ci/provision-engines` prints them), each run labelled with its engine. The modules' stack
//! suites run against servers this plan starts and stops ([`crate::teststack`]).

use anyhow::Result;

use super::common::{Command, Live, Parsed, Registration};
use super::{proto, tidy};
use crate::ctx::{Ctx, Needs};
use crate::docker::matrix;
use crate::plan::{action, Plan, Step};
use crate::teststack::{Servers, StartStack, StopStack};
use crate::workspace::{
    BEFORE_2FB3E22_DOCKERFILE, BEFORE_FC0ED04_DOCKERFILE, DEV_DOCKERFILE, PROD_DOCKERFILE,
    STACK_DOCKERFILES,
};

pub const COMMAND: Registration = Registration {
    name: "test",
    about: "Run every check CI runs: gofmt, go vet, go test -race, go mod tidy --check, proto --check, hadolint, rustfmt, clippy, and the xtask's tests including those that build images and run containers.",
    example: "cargo xtask test",
    settings: &[],
    arguments: |command| command,
    parse: |_| Parsed::Plan(Box::new(Test)),
};

#[derive(Debug)]
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
        plan(ctx)
    }
}

pub fn plan(ctx: &Ctx) -> Result<Plan> {
    let root = &ctx.ws.root;
    let modules = ctx.ws.go_modules()?;
    let cargo = &ctx.host.cargo;
    let stack = Servers::for_run(&ctx.host.stack, &ctx.host.temp_dir, ctx.dry_run)?;
    let stop_stack = || action("stop the stack's servers", StopStack(stack.clone()));
    let mut plan = Plan {
        notes: vec![format!("engine A: {}", ctx.engine().note())],
        // Also after a failure or Ctrl-C (a second stop finds nothing to do).
        cleanup: vec![stop_stack()],
        ..Plan::default()
    };
    for m in &modules {
        let dir = ctx.ws.path(&m.dir);
        plan.push(Step::new(format!("gofmt ({})", m.dir), "sh", &dir)
            .args(["-c", r#"unformatted=$(gofmt -l .) && [ -z "$unformatted" ] || { echo "gofmt -w needed: $unformatted" >&2; exit 1; }"#]));
        plan.push(Step::new(format!("go vet ({})", m.dir), "go", &dir).args(["vet", "./..."]));
    }
    plan.push(action("start the stack's servers (Postgres, S3, NATS) for the modules' stack suites", StartStack(stack.clone())));
    for m in &modules {
        plan.push(Step::new(format!("go test -race ({})", m.dir), "go", ctx.ws.path(&m.dir))
            .args(["test", "-race", "-count=1", "./..."]).envs(stack.test_env()).streamed());
    }
    plan.push(stop_stack());
    // The decode-memory estimate against mutated headers and chunk layouts, for a bounded time.
    plan.push(Step::new("go fuzz (decode estimate)", "go", ctx.ws.path("core"))
        .args(["test", "-run", "^$", "-fuzz", "^FuzzEstimateBoundsDecode$", "-fuzztime", "60s", "./pkg/imaging"])
        .streamed());
    plan.include("tidy --check", tidy::check_plan(ctx)?);
    plan.include("proto --check", proto::check_plan(ctx)?);
    plan.push(Step::new("hadolint", "hadolint", root).args([
        PROD_DOCKERFILE,
        DEV_DOCKERFILE,
        BEFORE_FC0ED04_DOCKERFILE,
        BEFORE_2FB3E22_DOCKERFILE,
    ]).args(STACK_DOCKERFILES));
    plan.push(Step::new("cargo fmt --check", cargo, root).args(["fmt", "--all", "--check"]));
    plan.push(Step::new("clippy", cargo, root)
        .args(["clippy", "--workspace", "--all-targets", "--features", "xtask/engine-tests", "--", "-D", "warnings"])
        .streamed());
    plan.push(Step::new("cargo test (with engine tests on engine A, the detected one)", cargo, root)
        .args(["test", "--workspace", "--features", "xtask/engine-tests"])
        .envs(ctx.docker().docker_env())
        .streamed());
    for engine in matrix::configured(&ctx.host, ctx.engine()).into_iter().skip(1) {
        let left_out = left_out(engine.name);
        plan.notes.push(format!(
            "engine {}: {}; runs every engine test except: {}",
            engine.name,
            engine.what,
            if left_out.is_empty() {
                "none".to_string()
            } else {
                left_out
                    .iter()
                    .map(|(test, why)| format!("{test} ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
        let mut args = Vec::new();
        for (test, _) in &left_out {
            args.extend(["--skip".to_string(), test.to_string()]);
        }
        plan.push(
            engine_tests(ctx, &format!("engine tests on engine {}", engine.name))
                .envs(engine.env.clone())
                .args(args),
        );
        // A second engine must not break the first (a second dockerd can delete docker0).
        plan.push(
            engine_tests(
                ctx,
                &format!(
                    "engine A still runs a container after engine {}'s tests",
                    engine.name
                ),
            )
            .args(["--exact", STILL_RUNS]),
        );
    }
    Ok(plan)
}

/// The engine test that runs a plain container on the default bridge.
const STILL_RUNS: &str = "the_engine_runs_a_container_on_its_default_network";

/// The engine test binary, with the child environment every engine gets.
fn engine_tests(ctx: &Ctx, label: &str) -> Step {
    Step::new(label, &ctx.host.cargo, &ctx.ws.root)
        .args([
            "test",
            "--package",
            "xtask",
            "--features",
            "engine-tests",
            "--test",
            "engine",
            "--",
        ])
        .envs(ctx.docker().docker_env())
        .streamed()
}

/// Only on engine A: the shared remote builder of `.ci/provision-builders` is driven through
/// the host's CLI, whatever engine is under test.
const REMOTE_BUILDER: (&str, &str) = (
    "registry_cache::a_cold_remote_builder",
    "the shared remote buildx builder, run on engine A",
);

/// Likewise: the release push (attested, signed, two platforms) is built on the remote builder.
const REMOTE_RELEASE: (&str, &str) = (
    "release_push::a_release_push",
    "built on the shared remote buildx builder, run on engine A",
);

/// Engine tests that do not apply to engine `name`'s route, with the reason; they run on A.
fn left_out(name: &str) -> Vec<(&'static str, &'static str)> {
    match name {
        "B" => vec![REMOTE_BUILDER, REMOTE_RELEASE],
        "C" => vec![
            REMOTE_BUILDER,
            REMOTE_RELEASE,
            (
                "images::buildkit_context_stays_small",
                "BuildKit's context transfer; buildah reads the folder in place",
            ),
        ],
        _ => Vec::new(),
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
        let plan = plan(&ctx_with(BuildRoute::BuiltIn, &[], Flags::new())).unwrap();
        let lines: Vec<String> = plan.commands().iter().map(|s| s.shell_line()).collect();
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        assert!(
            has("test --workspace --features xtask/engine-tests"),
            "{lines:#?}"
        );
        for dir in ["core", "plugins/thumbnailer", "proto"] {
            let labels = plan.labels();
            for check in ["gofmt", "go vet", "go test -race"] {
                assert!(
                    labels.contains(&format!("{check} ({dir})").as_str()),
                    "{labels:?}"
                );
            }
        }
        assert!(has(
            "hadolint deployments/docker/core.Dockerfile deployments/docker/core.dev.Dockerfile deployments/bench/before-fc0ed04.Dockerfile deployments/bench/before-2fb3e22.Dockerfile \
             deployments/docker/postgres.Dockerfile deployments/docker/stack-servers.Dockerfile"
        ));
        assert!(has("-D warnings"));
        assert!(has("go vet ./..."));
        // tidy --check and proto --check are their own plans, included: no second xtask.
        let labels = plan.labels();
        assert!(
            labels.contains(&"check that core/go.mod and go.sum are tidy")
                && labels.contains(&"compare the generated code with proto/gen"),
            "{labels:#?}"
        );
        assert!(
            !plan.commands().iter().any(|s| s.program.ends_with("xtask")),
            "{lines:#?}"
        );
        assert!(
            has("-fuzz '^FuzzEstimateBoundsDecode$' -fuzztime 60s ./pkg/imaging"),
            "{lines:#?}"
        );
        assert_eq!(plan.commands().len(), 17, "no further engine configured");
    }

    #[test]
    fn the_go_tests_of_every_module_run_between_starting_and_stopping_the_stack_servers() {
        let plan = plan(&ctx_with(BuildRoute::BuiltIn, &[], Flags::new())).unwrap();
        assert_eq!(
            plan.labels()[6..11],
            [
                "start the stack's servers (Postgres, S3, NATS) for the modules' stack suites",
                "go test -race (core)",
                "go test -race (plugins/thumbnailer)",
                "go test -race (proto)",
                "stop the stack's servers"
            ]
        );
        let servers = &plan.steps[6].action::<StartStack>().unwrap().0;
        for go_test in plan.steps[7..10].iter().map(|t| t.step().unwrap()) {
            for (key, value) in servers.test_env() {
                assert_eq!(go_test.env_value(&key), Some(value.as_str()), "{key}");
            }
            assert_eq!(go_test.env_value("PIXIE_TEST_STACK_REQUIRED"), Some("1"));
        }
        assert_eq!(plan.steps[10].action::<StopStack>().unwrap().0, *servers);
        // Also after a failure or Ctrl-C.
        assert_eq!(
            plan.cleanup,
            [action("stop the stack's servers", StopStack(servers.clone()))]
        );
    }

    #[test]
    fn runs_the_engine_tests_again_on_each_configured_engine_then_checks_engine_a() {
        let mut ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        ctx.host.engines = [
            ("PIXIE_ENGINE_B_DOCKER", "/opt/d26/docker"),
            ("PIXIE_ENGINE_B_HOST", "unix:///run/d26.sock"),
            ("PIXIE_ENGINE_B_CONFIG", "/opt/d26-config"),
            ("PIXIE_ENGINE_B_ADDR", "10.203.26.2"),
            ("PIXIE_ENGINE_C_PODMAN", "/usr/bin/podman"),
            ("PIXIE_ENGINE_C_SOCKET", "unix:///run/podman.sock"),
            (
                "PIXIE_ENGINE_C_COMPOSE",
                "/opt/d26/usr/libexec/docker/cli-plugins/docker-compose",
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        let plan = plan(&ctx).unwrap();
        let runs: Vec<&Step> = plan.commands()[17..].to_vec();
        assert_eq!(
            runs.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            [
                "engine tests on engine B",
                "engine A still runs a container after engine B's tests",
                "engine tests on engine C",
                "engine A still runs a container after engine C's tests",
            ]
        );
        let b = runs[0];
        assert_eq!(b.env_value("DOCKER"), Some("/opt/d26/docker"));
        assert_eq!(b.env_value("DOCKER_HOST"), Some("unix:///run/d26.sock"));
        assert_eq!(b.env_value("DOCKER_CONFIG"), Some("/opt/d26-config"));
        assert_eq!(
            b.env_value("PIXIE_TEST_PUBLISHED_ADDR"),
            Some("10.203.26.2")
        );
        assert_eq!(
            b.flag_values("--skip").collect::<Vec<_>>(),
            [
                "registry_cache::a_cold_remote_builder",
                "release_push::a_release_push"
            ]
        );
        let c = runs[2];
        assert_eq!(c.env_value("DOCKER"), Some("/usr/bin/podman"));
        assert_eq!(c.env_value("DOCKER_HOST"), Some("unix:///run/podman.sock"));
        assert_eq!(
            c.env_value("PATH"),
            Some("/opt/d26/usr/libexec/docker/cli-plugins:$PATH")
        );
        assert_eq!(c.env_value("DOCKER_CONFIG"), None);
        assert_eq!(c.flag_values("--skip").count(), 3);
        // Engine A's check runs in A's environment, one test.
        assert_eq!(runs[1].env_value("DOCKER"), None);
        assert_eq!(runs[1].flag_value("--exact"), Some(STILL_RUNS));
    }
    /// A renamed or moved engine test would turn its `--skip` filter into a no-op, and the test
    /// would run (and fail) on an engine it does not apply to: each filter must name a test.
    #[test]
    fn every_left_out_filter_names_an_engine_test() {
        let engine_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engine");
        for engine in ["A", "B", "C"] {
            for (filter, _) in left_out(engine) {
                let (module, test) = filter.split_once("::").unwrap();
                let file = engine_dir.join(format!("{module}.rs"));
                let source = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{filter}: {}: {e}", file.display()));
                assert!(
                    source.contains(&format!("#[test]\nfn {test}")),
                    "{filter} names no test in {}",
                    file.display()
                );
            }
        }
        let main = std::fs::read_to_string(engine_dir.join("main.rs")).unwrap();
        assert!(main.contains(&format!("fn {STILL_RUNS}()")), "{STILL_RUNS}");
    }
}
