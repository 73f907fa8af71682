//! `run-*` on the stack (`run.stack: full`): how it reports readiness and names itself, and its
//! steps after the build.

use std::time::Duration;

use anyhow::Result;

use super::{wait_detached, with_proto_watch};
use crate::commands::build::module_build;
use crate::commands::common::Live;
use crate::ctx::Ctx;
use crate::docker::compose::{self, Project};
use crate::docker::engine::Compose;
use crate::plan::{Again, Plan};
use crate::ready::Ready;
use crate::settings;
use crate::stack::{self, Stack};
use crate::target::Target;

/// What says pixie-core serves: `/healthz` alone; on the stack `/readyz`, which answers 200 only
/// once core reaches Postgres, S3 and NATS (its migrations applied, its bucket there), while
/// `/healthz` says only that the process lives.
pub fn ready_path(ctx: &Ctx) -> &'static str {
    match Stack::of(&ctx.config) {
        Stack::Embedded => "/healthz",
        Stack::Full => "/readyz",
    }
}

/// For a stack planned without asking the engine (a dry run): where the number in its Postgres
/// volume's name comes from.
pub fn major_note(ctx: &Ctx, live: &Live) -> Option<String> {
    (Stack::of(&ctx.config) == Stack::Full && live.postgres_major.is_none()).then(|| {
        format!(
            "{}: when it runs, PG_MAJOR is the Postgres image's own (its PG_MAJOR variable, `docker image inspect {}`)",
            settings::POSTGRES_IMAGE.key,
            ctx.config.text(&settings::POSTGRES_IMAGE)
        )
    })
}

/// How `logs`, `ps` and `stop` name `target`'s run: `prod`, or `prod --stack full`.
pub fn run_name(ctx: &Ctx, target: Target) -> String {
    match Stack::of(&ctx.config) {
        Stack::Embedded => target.name().to_string(),
        Stack::Full => format!("{} --stack full", target.name()),
    }
}

/// The plugins' production images, built after core's as build-prod builds them (every build
/// setting; an unchanged tree is a cache hit), so run-prod never runs a plugin's old image. The
/// dev stack runs them from the dev image.
pub(super) fn build_plugins(ctx: &Ctx, plan: &mut Plan) -> Result<()> {
    for image in stack::plugin_images(ctx)? {
        plan.append(module_build(ctx, &image).plan(&ctx.docker())?);
    }
    Ok(())
}

/// The stack's run after the build: its secrets, its servers each waited for, the migrations,
/// then core and the plugins alone (`--no-deps`) in the background, each plugin waited for, the
/// same way on every engine. In the
/// foreground the xtask then follows core's logs, and follows them again when another command
/// (`restart core`) replaces the container: compose's own `up` would end with the container it
/// attached to, and take the stack down with it.
pub(super) fn stack_steps(
    ctx: &Ctx,
    compose: &Compose,
    project: &Project,
    target: Target,
    detach: bool,
    ready: Ready,
    plan: &mut Plan,
) -> Result<()> {
    let name = run_name(ctx, target);
    let step = |label: String, words: &[&str]| {
        compose::step(&ctx.docker(), compose, project, label, words)
    };
    plan.include(
        "prepare the stack (helper, secrets)",
        stack::prepare(ctx, compose, project)?,
    );
    plan.steps
        .extend(stack::start_servers(ctx, compose, project, &stack::SERVERS));
    plan.steps
        .extend(stack::migrate_unless_current(ctx, compose, project)?);
    plan.steps.extend(stack::start_core_and_plugins(
        ctx,
        compose,
        project,
        format!("start pixie-core and its plugins ({name})"),
        super::ready_timeout(target),
    ));
    if detach {
        wait_detached(plan, ready, target, &name);
        return Ok(());
    }
    let follow = step(
        format!("follow pixie-core ({name}) on {}", ready.url()),
        &["logs", "--follow", "core"],
    )
    .announce_ready(ready)
    .again_while(Again {
        probe: project.running(&ctx.docker(), Some("core")),
        within: RECREATE_WITHIN,
    });
    plan.push(with_proto_watch(ctx, target, follow));
    Ok(())
}

/// How long a replaced core container may take to run again before a foreground run ends.
const RECREATE_WITHIN: Duration = Duration::from_secs(5);

