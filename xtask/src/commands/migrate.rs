//! `migrate`: core's database migrations against the stack (`--stack full`), alone: the image
//! built (a cache hit when nothing changed), the secrets there, Postgres started if it is not
//! and waited for, then `pixie-core migrate` once (a current schema stays as it is). `run-*`
//! run the same one-shot before core starts. Postgres keeps running afterwards.

use anyhow::{bail, Result};

use super::build::configured;
use super::common::{Command, Live, Parsed, Registration};
use super::run::{compose_or_stand_in, major_note, project};
use crate::ctx::{Ctx, Needs};
use crate::docker::compose;
use crate::plan::Plan;
use crate::settings::FlagOf;
use crate::stack::{self, Server, Stack, SERVERS};
use crate::target::Target;

pub const COMMAND: Registration = Registration {
    name: "migrate",
    about: "Apply core's database migrations to the stack (--stack full): starts its Postgres if needed, waits until it is healthy, then runs pixie-core migrate once; a current schema stays as it is.",
    example: "cargo xtask migrate --stack full",
    settings: &[FlagOf::Stack],
    arguments: |command| command,
    parse: |_| Parsed::Plan(Box::new(Migrate)),
};

#[derive(Debug)]
pub struct Migrate;

impl Command for Migrate {
    fn needs(&self) -> Needs {
        Needs::Compose
    }

    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        ctx.engine().compose()?;
        Live::stack(ctx)
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan> {
        if Stack::of(&ctx.config) != Stack::Full {
            bail!("migrate runs against the stack's Postgres; add --stack full (or set run.stack: full, PIXIE_STACK=full)");
        }
        let compose = compose_or_stand_in(ctx);
        let project = project(ctx, Target::Prod, live)?;
        let mut plan = Plan {
            notes: vec![
                format!("compose: {}", compose.note()),
                format!("compose project: {}", project.name),
            ],
            ..Plan::default()
        };
        plan.notes.extend(major_note(ctx, live));
        plan.push(compose::link_docker(&ctx.docker()));
        // The migrate service runs the production image.
        plan.append(configured(ctx, Target::Prod)?.finish(ctx)?);
        plan.include(
            "prepare the stack (helper, secrets)",
            stack::prepare(ctx, &compose, &project)?,
        );
        let postgres: Vec<Server> = SERVERS
            .into_iter()
            .filter(|s| s.service == "postgres")
            .collect();
        plan.steps
            .extend(stack::start_servers(ctx, &compose, &project, &postgres));
        plan.steps.extend(stack::migrate(ctx, &compose, &project));
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::{BuildRoute, Compose};
    use crate::settings::Flags;
    use crate::stack::WaitHealthy;

    #[test]
    fn builds_then_starts_and_waits_for_postgres_alone_then_migrates_once_and_leaves_it_running() {
        let mut ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[("PIXIE_STACK", "full"), ("PIXIE_PROJECT", "g1")],
            Flags::new(),
        );
        ctx.engine.as_mut().unwrap().compose = Some(Ok(Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }));
        let live = Live {
            postgres_major: Some("15".into()),
            ..Live::default()
        };
        let plan = Migrate.plan(&ctx, &live).unwrap();
        let labels = plan.labels();
        assert!(labels.contains(&"build prod image pixie-core:latest"), "{labels:?}");
        assert_eq!(
            labels[labels.len() - 5..],
            [
                "start postgres",
                "wait until postgres is healthy",
                "remove a migrate container a run left",
                "apply core's migrations (pixie-core migrate)",
                "remove the migrate container",
            ]
        );
        let waited: Vec<&str> = plan.actions::<WaitHealthy>()[0]
            .servers
            .iter()
            .map(|s| s.service)
            .collect();
        assert_eq!(waited, ["postgres"]);
        assert!(plan.cleanup.is_empty() && plan.on_failure.is_empty());
        let embedded = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        assert_eq!(
            Migrate.plan(&embedded, &Live::default()).unwrap_err().to_string(),
            "migrate runs against the stack's Postgres; add --stack full (or set run.stack: full, PIXIE_STACK=full)"
        );
    }
}
