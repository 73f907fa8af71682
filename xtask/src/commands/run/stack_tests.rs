//! `run-prod --stack full` and `run-dev --stack full` as plans, without Docker.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::ctx::fake::ctx_with;
use crate::docker::engine::BuildRoute;
use crate::stack::{prepare, PrivateDir, Remove, WaitHealthy};
use crate::workspace::{
    DEV_COMPOSE, PROD_COMPOSE, STACK_COMPOSE, STACK_DEV_COMPOSE, STACK_SECRETS_COMPOSE,
};

const SECRETS: &str = "/home/me/.local/state/pixie/s1-prod-stack/secrets";

fn full(route: BuildRoute, env: &[(&str, &str)]) -> Ctx {
    let mut all = vec![("PIXIE_STACK", "full"), ("PIXIE_PROJECT", "s1")];
    all.extend_from_slice(env);
    let mut ctx = ctx_with(route, &all, crate::settings::Flags::new());
    ctx.engine.as_mut().unwrap().compose = Some(Ok(Compose::Standalone {
        path: "/usr/bin/docker-compose".into(),
        version: "1.29.2".into(),
    }));
    ctx
}

/// What preflight found: the engine has the images, Postgres's is major 15.
fn live() -> Live {
    Live {
        postgres_major: Some("15".into()),
        ..Live::default()
    }
}

fn words(step: &Step) -> String {
    step.args.join(" ")
}

/// The compose step whose arguments end with `tail`.
fn compose_step<'a>(plan: &'a Plan, tail: &str) -> &'a Step {
    plan.commands()
        .into_iter()
        .find(|s| words(s).ends_with(tail))
        .unwrap_or_else(|| panic!("no step ending with `{tail}`:\n{plan}"))
}

#[test]
fn secrets_then_servers_each_waited_for_then_migrations_then_core_and_the_plugin_then_its_logs() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let plan = plan(&ctx, Target::Prod, false, &live()).unwrap();
    assert_eq!(
        plan.labels()[6..],
        [
            "build prod image pixie-core:latest",
            "build prod image pixie-thumbnailer:latest",
            "build the stack's helper (stackhelper)",
            "make the stack's private secrets folder",
            "remove a secrets container a run left",
            &format!("generate the stack's missing secrets in {SECRETS}"),
            "remove the secrets container",
            "start postgres, s3, nats",
            "wait until postgres, s3, nats are healthy",
            "skip the migrations if the schema is current",
            "remove a migrate container a run left",
            "apply core's migrations (pixie-core migrate)",
            "remove the migrate container",
            "remove the skip file",
            "start pixie-core and its plugins (prod --stack full)",
            "wait until thumbnailer consumes",
            "follow pixie-core (prod --stack full) on http://127.0.0.1:8080",
        ]
    );
    let servers = compose_step(&plan, "up --no-color --detach postgres s3 nats");
    assert_eq!(servers.flag_value("--project-name"), Some("s1-prod-stack"));
    assert_eq!(
        servers.flag_values("--file").collect::<Vec<_>>(),
        [PROD_COMPOSE, STACK_COMPOSE]
    );
    assert_eq!(
        servers.env_value("PIXIE_POSTGRES_VOLUME"),
        Some("s1-prod-stack_postgres-15")
    );
    assert_eq!(servers.env_value("PIXIE_SECRETS_DIR"), Some(SECRETS));
    assert_eq!(
        servers.env_value("PIXIE_POSTGRES_IMAGE"),
        Some("postgres:16-alpine")
    );
    // The plugin's image as build-prod names and builds it.
    assert_eq!(
        servers.env_value("PIXIE_THUMBNAILER_IMAGE"),
        Some("pixie-thumbnailer:latest")
    );
    let wait = plan.actions::<WaitHealthy>()[0];
    let waited: Vec<&str> = wait.servers.iter().map(|s| s.service).collect();
    assert_eq!(waited, ["postgres", "s3", "nats"]);
    assert!(!wait.podman);
    compose_step(
        &plan,
        "run --no-deps --name s1-prod-stack-migrate-oneshot migrate",
    );
    // Core and the plugin alone and in the background: nothing recreates a server. The plugin
    // is waited for by its health check, for as long as a detached core.
    compose_step(
        &plan,
        "up --no-color --detach --remove-orphans --no-deps core thumbnailer",
    );
    let plugins = plan.actions::<WaitHealthy>()[1];
    let waited: Vec<&str> = plugins.servers.iter().map(|s| s.service).collect();
    assert_eq!(waited, ["thumbnailer"]);
    assert_eq!(plugins.timeout, Duration::from_secs(60));
    // Ctrl-C or the end: every container goes, the volumes stay.
    let down = plan.cleanup[0].step().unwrap();
    assert!(words(down).ends_with("down --remove-orphans"), "{plan}");
    assert!(plan.on_failure.is_empty());
}

#[test]
fn the_foreground_follows_cores_logs_again_when_another_command_replaces_it() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let plan = plan(&ctx, Target::Prod, false, &live()).unwrap();
    let follow = plan.commands().into_iter().last().unwrap();
    assert!(
        words(follow).ends_with("logs --no-color --follow core"),
        "{follow:?}"
    );
    assert_eq!(follow.ready, Some(Ready::on("127.0.0.1", 8080, "/readyz")));
    let again = follow.again.as_deref().expect("followed again");
    assert_eq!(again.within, Duration::from_secs(5));
    assert_eq!(
        again.probe.args,
        [
            "ps",
            "--quiet",
            "--filter=status=running",
            "--filter=label=com.docker.compose.project=s1-prod-stack",
            "--filter=label=com.docker.compose.service=core",
        ]
    );
    let text = plan.to_string();
    assert!(text.contains("while :; do\n"), "{text}");
    assert!(
        text.contains("timeout 5 sh -c 'until [ -n \"$(/usr/bin/docker ps --quiet"),
        "{text}"
    );
}

#[test]
fn secrets_are_made_in_the_engine_by_a_file_of_their_own_only_while_one_is_missing() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let plan = plan(&ctx, Target::Prod, false, &live()).unwrap();
    assert_eq!(
        plan.actions::<PrivateDir>(),
        [&PrivateDir(Path::new(SECRETS).to_path_buf())]
    );
    let secrets = compose_step(
        &plan,
        "run --no-deps --name s1-prod-stack-secrets-oneshot secrets",
    );
    assert_eq!(
        secrets.flag_values("--file").collect::<Vec<_>>(),
        [STACK_SECRETS_COMPOSE]
    );
    assert_eq!(secrets.flag_value("--project-name"), Some("s1-prod-stack"));
    let database_url = Path::new(SECRETS).join("database_url");
    assert_eq!(secrets.unless_exists.as_deref(), Some(database_url.as_path()));
    // Without --rm (compose v2 on Podman 4.3 loses the exit code with it): the xtask removes
    // each one-shot, a stale one before (skipped with the secrets' run) and its own after.
    let removed: Vec<(&str, bool)> = plan
        .actions::<Remove>()
        .iter()
        .map(|r| (r.0.service, r.0.unless_exists.is_some()))
        .collect();
    assert_eq!(
        removed,
        [
            ("secrets", true),
            ("secrets", false),
            ("migrate", true),
            ("migrate", false)
        ]
    );
    // The plan names where the secrets are, never a value: it never reads them.
    let text = plan.to_string();
    assert!(text.contains(&format!("PIXIE_SECRETS_DIR={SECRETS} ")), "{text}");
    assert!(!text.contains("PASSWORD="), "{text}");
}

#[test]
fn a_detached_stack_waits_for_healthz_and_is_removed_whole_only_if_it_fails() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let plan = plan(&ctx, Target::Prod, true, &live()).unwrap();
    assert_eq!(
        plan.actions::<WaitReady>(),
        [&WaitReady {
            ready: Ready::on("127.0.0.1", 8080, "/readyz"),
            timeout: Duration::from_secs(60),
            fix: "see why with `cargo xtask logs prod --stack full`; `cargo xtask stop prod --stack full` removes it".into(),
        }]
    );
    assert!(plan.cleanup.iter().all(|t| t.step().is_none()), "{plan}");
    let down = plan.on_failure[0].step().unwrap();
    assert!(words(down).ends_with("down --remove-orphans"), "{plan}");
    assert!(plan
        .to_string()
        .contains("# only if a step above fails (or on Ctrl-C):"));
}

#[test]
fn run_dev_migrates_from_the_mounted_source_and_watches_proto_beside_cores_logs() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let plan = plan(&ctx, Target::Dev, false, &live()).unwrap();
    let follow = plan.commands().into_iter().last().unwrap();
    assert_eq!(
        follow.flag_values("--file").collect::<Vec<_>>(),
        [DEV_COMPOSE, STACK_COMPOSE, STACK_DEV_COMPOSE]
    );
    assert_eq!(follow.flag_value("--project-name"), Some("s1-dev-stack"));
    assert!(follow.watch.is_some(), "run-dev regenerates proto/gen");
    assert!(follow.again.is_some());
    // The dev stack runs the plugin from the dev image: no production build of it.
    assert!(
        !plan.labels().iter().any(|l| l.contains("pixie-thumbnailer")),
        "{plan}"
    );
    // The plugin's first build in its dev container may take as long as core's.
    assert_eq!(
        plan.actions::<WaitHealthy>()[1].timeout,
        Duration::from_secs(600)
    );
}

#[test]
fn a_dry_run_says_where_the_postgres_volumes_number_comes_from() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
    let up = compose_step(&plan, "up --no-color --detach postgres s3 nats");
    assert_eq!(
        up.env_value("PIXIE_POSTGRES_VOLUME"),
        Some("s1-prod-stack_postgres-PG_MAJOR")
    );
    assert!(plan.notes.contains(&"service_images.postgres: when it runs, PG_MAJOR is the Postgres image's own (its PG_MAJOR variable, `docker image inspect postgres:16-alpine`)".to_string()), "{plan}");
    // Not for the embedded run, nor once the engine said.
    assert!(!super::plan(&ctx, Target::Prod, false, &live())
        .unwrap()
        .to_string()
        .contains("PG_MAJOR"));
}

#[test]
fn the_helper_is_static_for_linux_and_the_wait_runs_each_check_on_docker_and_podman() {
    let ctx = full(BuildRoute::BuiltIn, &[]);
    let project = project(&ctx, Target::Prod, &live()).unwrap();
    let prepare = prepare(&ctx, &compose_or_stand_in(&ctx), &project).unwrap();
    let build = prepare.commands()[0];
    assert_eq!(build.env_value("CGO_ENABLED"), Some("0"));
    assert_eq!(build.env_value("GOOS"), Some("linux"));
    assert!(words(build).ends_with("./cmd/stackhelper"));
    let docker = plan(&ctx, Target::Prod, false, &live()).unwrap();
    let wait = docker.actions::<WaitHealthy>()[0];
    assert!(!wait.podman);
    assert!(
        wait.shell_line().contains("`docker exec` of its command"),
        "{}",
        wait.shell_line()
    );
    let podman = full(BuildRoute::Buildah { layer_cache: false }, &[]);
    let plan = plan(&podman, Target::Prod, false, &live()).unwrap();
    let wait = plan.actions::<WaitHealthy>()[0];
    assert!(wait.podman);
    assert!(
        wait.shell_line().contains("`podman healthcheck run`"),
        "{}",
        wait.shell_line()
    );
}

#[test]
fn a_token_reaches_core_on_the_stack_as_on_its_own() {
    let mut ctx = full(BuildRoute::BuiltIn, &[("PIXIE_BIND", "0.0.0.0")]);
    ctx.host.api_token_file = Some("/home/me/pixie-token".into());
    let plan = plan(&ctx, Target::Prod, false, &live()).unwrap();
    let core = compose_step(&plan, "--no-deps core thumbnailer");
    assert_eq!(
        core.flag_values("--file").collect::<Vec<_>>(),
        [PROD_COMPOSE, STACK_COMPOSE, crate::workspace::PROD_TOKEN_COMPOSE]
    );
}
