//! `run-prod` and `run-dev`: compose up in the foreground under a per-checkout project name,
//! building the image first when it is missing; `down --remove-orphans` always follows, so
//! Ctrl-C leaves no container or network behind.

use std::net::TcpListener;

use anyhow::{bail, Result};
use clap::Args;

use super::build::{build_step, Target};
use super::Ctx;
use crate::config::Overrides;
use crate::engine::Compose;
use crate::exec;
use crate::plan::{Plan, Step};
use crate::workspace::{DEV_COMPOSE, PROD_COMPOSE};

pub fn compose_file(target: Target) -> &'static str {
    match target {
        Target::Prod => PROD_COMPOSE,
        Target::Dev => DEV_COMPOSE,
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Host port published for HTTP (default 8080).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// Host port published for gRPC (default 9090).
    #[arg(long)]
    pub grpc_port: Option<u16>,
}

impl RunArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            http_port: self.http_port,
            grpc_port: self.grpc_port,
            ..Overrides::default()
        }
    }
}

pub fn run(ctx: &Ctx, target: Target) -> Result<()> {
    if ctx.dry_run {
        let compose = ctx.engine.compose().unwrap_or_else(|_| Compose::Plugin {
            version: "(not detected)".into(),
        });
        print!("{}", plan(ctx, target, &compose, None)?);
        return Ok(());
    }
    ctx.engine.daemon_version()?;
    let compose = ctx.engine.compose()?;
    let present = ctx.engine.image_exists(&target.image(ctx));
    let plan = plan(ctx, target, &compose, Some(present))?;
    check_ports_free(ctx)?;
    prepare_shim(ctx)?;
    exec::run(&plan, &ctx.ui)?;
    Ok(())
}

/// `image_present`: whether the target's image is already local (`None`: unknown, dry run).
pub fn plan(
    ctx: &Ctx,
    target: Target,
    compose: &Compose,
    image_present: Option<bool>,
) -> Result<Plan> {
    ctx.ws.require(compose_file(target))?;
    let project = ctx
        .ws
        .project_name(&ctx.config.project.value, target.name());
    let mut plan = Plan {
        notes: vec![
            ctx.engine_note(),
            format!("compose: {}", compose_note(compose)),
            format!("compose project: {project}"),
        ],
        ..Plan::default()
    };
    match image_present {
        Some(true) => plan.notes.push(format!(
            "image {} is present; not rebuilding",
            target.image(ctx)
        )),
        Some(false) => plan.steps.push(build_step(ctx, target)?),
        None => {
            plan.notes.push(format!(
                "the build step runs only if image {} is missing",
                target.image(ctx)
            ));
            plan.steps.push(build_step(ctx, target)?);
        }
    }
    plan.steps.push(compose_step(
        ctx,
        target,
        compose,
        format!(
            "run pixie-core ({}) on http://{}:{}",
            target.name(),
            ctx.config.bind.value,
            ctx.config.http_port.value
        ),
        &["up", "--remove-orphans"],
    ));
    plan.cleanup.push(compose_step(
        ctx,
        target,
        compose,
        format!("remove the {project} containers and network"),
        &["down", "--remove-orphans"],
    ));
    Ok(plan)
}

/// A compose command on `target`'s file and project, with the env the file interpolates.
pub fn compose_step(
    ctx: &Ctx,
    target: Target,
    compose: &Compose,
    label: String,
    args: &[&str],
) -> Step {
    let project = ctx
        .ws
        .project_name(&ctx.config.project.value, target.name());
    let (program, leading): (_, &[&str]) = match compose {
        Compose::Plugin { .. } => (ctx.cli().path.clone(), &["compose"]),
        Compose::Standalone { path, .. } => (path.clone(), &[]),
    };
    let mut args = args.to_vec();
    // Compose v1 colours its output even into a pipe; keep logs readable and honour NO_COLOR.
    if args[0] == "up" && (ctx.plain_progress || std::env::var_os("NO_COLOR").is_some()) {
        args.push("--no-color");
    }
    Step::new(label, program, &ctx.ws.root)
        .args(leading.iter().copied())
        .args(["--project-name", &project, "--file", compose_file(target)])
        .args(args)
        .envs(ctx.docker_env())
        .envs(service_env(ctx, target))
        .streamed()
}

/// Values the compose file interpolates, and a PATH on which `docker` is the chosen CLI.
fn service_env(ctx: &Ctx, target: Target) -> Vec<(String, String)> {
    let cfg = &ctx.config;
    vec![
        ("PATH".into(), format!("{}:$PATH", ctx.shim_dir().display())),
        ("PIXIE_IMAGE".into(), target.image(ctx)),
        ("PIXIE_BIND".into(), cfg.bind.value.clone()),
        ("PIXIE_HTTP_PORT".into(), cfg.http_port.value.to_string()),
        ("PIXIE_GRPC_PORT".into(), cfg.grpc_port.value.to_string()),
    ]
}

pub fn compose_note(compose: &Compose) -> String {
    match compose {
        Compose::Plugin { version } => format!("docker compose plugin {version}"),
        Compose::Standalone { path, version } => format!("{} {version}", path.display()),
    }
}

/// Fails with the fix when a port the service publishes is taken.
fn check_ports_free(ctx: &Ctx) -> Result<()> {
    let bind = &ctx.config.bind.value;
    for (port, flag) in [
        (ctx.config.http_port.value, "--http-port"),
        (ctx.config.grpc_port.value, "--grpc-port"),
    ] {
        if TcpListener::bind((bind.as_str(), port)).is_err() {
            bail!("port {port} on {bind} is already in use; stop what listens there or pick another with {flag}");
        }
    }
    Ok(())
}

/// Makes the `docker` link that [`Ctx::shim_dir`] puts first on PATH.
fn prepare_shim(ctx: &Ctx) -> Result<()> {
    let dir = ctx.shim_dir();
    std::fs::create_dir_all(&dir)?;
    let link = dir.join("docker");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&ctx.cli().path, &link)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::ctx_with;
    use crate::config::Overrides;
    use crate::engine::BuildRoute;

    fn v1() -> Compose {
        Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }
    }

    #[test]
    fn builds_only_when_the_image_is_missing() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Overrides::default());
        let present = plan(&ctx, Target::Prod, &v1(), Some(true)).unwrap();
        assert_eq!(present.steps.len(), 1);
        let missing = plan(&ctx, Target::Prod, &v1(), Some(false)).unwrap();
        assert_eq!(missing.steps.len(), 2);
        assert_eq!(
            missing.steps[0].flag_value("--file"),
            Some(crate::workspace::PROD_DOCKERFILE)
        );
    }

    #[test]
    fn compose_up_then_down_always_under_one_project() {
        let ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[("PIXIE_PROJECT", "t1")],
            Overrides::default(),
        );
        let plan = plan(&ctx, Target::Dev, &v1(), Some(true)).unwrap();
        let up = plan.steps.last().unwrap();
        let down = &plan.cleanup[0];
        assert_eq!(
            up.program,
            std::path::PathBuf::from("/usr/bin/docker-compose")
        );
        assert_eq!(up.flag_value("--project-name"), Some("t1-dev"));
        assert_eq!(up.flag_value("--file"), Some(DEV_COMPOSE));
        assert!(
            up.args
                .join(" ")
                .ends_with("up --remove-orphans --no-color"),
            "{:?}",
            up.args
        );
        assert_eq!(down.flag_value("--project-name"), Some("t1-dev"));
        assert!(down
            .args
            .ends_with(&["down".to_string(), "--remove-orphans".to_string()]));
    }

    #[test]
    fn compose_v1_finds_the_chosen_docker_first_on_path() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Overrides::default());
        let plan = plan(&ctx, Target::Prod, &v1(), Some(true)).unwrap();
        let path = plan.steps[0].env_value("PATH").unwrap();
        assert_eq!(path, format!("{}:$PATH", ctx.shim_dir().display()));
    }

    #[test]
    fn compose_plugin_runs_through_the_chosen_cli() {
        let ctx = ctx_with(BuildRoute::Buildx, &[], Overrides::default());
        let plan = plan(
            &ctx,
            Target::Prod,
            &Compose::Plugin {
                version: "2.29.0".into(),
            },
            Some(true),
        )
        .unwrap();
        let up = &plan.steps[0];
        assert_eq!(up.program, ctx.cli().path);
        assert_eq!(up.args[0], "compose");
    }

    #[test]
    fn ports_and_image_reach_compose_interpolation() {
        let flags = Overrides {
            http_port: Some(18080),
            ..Default::default()
        };
        let ctx = ctx_with(BuildRoute::BuiltIn, &[("PIXIE_GRPC_PORT", "19090")], flags);
        let up = &plan(&ctx, Target::Prod, &v1(), Some(true)).unwrap().steps[0];
        assert_eq!(up.env_value("PIXIE_HTTP_PORT"), Some("18080"));
        assert_eq!(up.env_value("PIXIE_GRPC_PORT"), Some("19090"));
        assert_eq!(up.env_value("PIXIE_IMAGE"), Some("pixie-core:latest"));
        assert_eq!(up.env_value("PIXIE_BIND"), Some("127.0.0.1"));
    }

    #[test]
    fn a_taken_port_is_reported_with_the_flag_to_change_it() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[],
            Overrides {
                http_port: Some(port),
                ..Default::default()
            },
        );
        let message = check_ports_free(&ctx).unwrap_err().to_string();
        assert_eq!(message, format!("port {port} on 127.0.0.1 is already in use; stop what listens there or pick another with --http-port"));
    }
}
