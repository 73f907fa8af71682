//! `logs [-f]`, `ps` and `stop`: compose commands on the project a `run-* --detach` started
//! (the same name, files and token override as run.rs gives it).

use anyhow::Result;

use super::run::{compose_or_stand_in, down, project};
use super::{Command, Live};
use crate::ctx::{Ctx, Needs, Target};
use crate::docker::compose;
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Logs { follow: bool },
    Ps,
    Stop,
}

pub struct Manage {
    pub target: Target,
    pub verb: Verb,
}

impl Command for Manage {
    fn needs(&self) -> Needs {
        Needs::Compose
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        plan(ctx, self.target, self.verb)
    }
}

pub fn plan(ctx: &Ctx, target: Target, verb: Verb) -> Result<Plan> {
    let compose = compose_or_stand_in(ctx);
    let project = project(ctx, target)?;
    let mut plan = Plan {
        notes: vec![
            format!("compose: {}", compose.note()),
            format!("compose project: {}", project.name),
        ],
        ..Plan::default()
    };
    plan.push(compose::link_docker(ctx));
    let step = |label: String, words: &[&str]| compose::step(ctx, &compose, &project, label, words);
    match verb {
        Verb::Logs { follow } => {
            let words: &[&str] = if follow {
                &["logs", "--follow"]
            } else {
                &["logs"]
            };
            plan.push(step(format!("the logs of {}", project.name), words));
        }
        Verb::Ps => plan.push(step(format!("the containers of {}", project.name), &["ps"])),
        Verb::Stop => {
            for task in down(ctx, &compose, &project, target) {
                plan.push(task);
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::compose::Compose;
    use crate::docker::engine::BuildRoute;
    use crate::plan::Action;
    use crate::settings::Flags;
    use crate::workspace::{DEV_COMPOSE, PROD_COMPOSE, PROD_TOKEN_COMPOSE};

    fn ctx(env: &[(&str, &str)]) -> Ctx {
        let mut ctx = ctx_with(BuildRoute::BuiltIn, env, Flags::new());
        ctx.engine.as_mut().unwrap().compose = Some(Ok(Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }));
        ctx
    }

    fn tail(plan: &Plan) -> String {
        plan.commands()[0].args.join(" ")
    }

    #[test]
    fn logs_ps_and_stop_address_the_run_commands_project() {
        let ctx = ctx(&[("PIXIE_PROJECT", "m1")]);
        let logs = plan(&ctx, Target::Dev, Verb::Logs { follow: true }).unwrap();
        assert_eq!(
            tail(&logs),
            format!("--project-name m1-dev --file {DEV_COMPOSE} logs --follow --no-color")
        );
        let ps = plan(&ctx, Target::Prod, Verb::Ps).unwrap();
        assert_eq!(
            tail(&ps),
            format!("--project-name m1-prod --file {PROD_COMPOSE} ps")
        );
        let stop = plan(&ctx, Target::Prod, Verb::Stop).unwrap();
        assert_eq!(
            tail(&stop),
            format!("--project-name m1-prod --file {PROD_COMPOSE} down --remove-orphans")
        );
        assert!(
            matches!(stop.actions().last(), Some(Action::RemoveFile(f)) if f.ends_with("m1-prod/api_token"))
        );
        // Every one runs through the docker link compose v1 needs.
        for plan in [logs, ps, stop] {
            assert!(matches!(plan.actions()[0], Action::LinkDocker { .. }));
        }
    }

    #[test]
    fn with_a_token_every_command_names_the_override_and_the_host_file() {
        let mut ctx = ctx(&[("PIXIE_PROJECT", "m2")]);
        ctx.host.api_token_var = true;
        for verb in [Verb::Ps, Verb::Stop, Verb::Logs { follow: false }] {
            let plan = plan(&ctx, Target::Prod, verb).unwrap();
            let step = plan.commands()[0];
            assert_eq!(
                step.flag_values("--file").collect::<Vec<_>>(),
                [PROD_COMPOSE, PROD_TOKEN_COMPOSE]
            );
            let host_file = step.env_value("PIXIE_API_TOKEN_HOST_FILE").unwrap();
            assert!(
                host_file.starts_with('/')
                    && host_file.ends_with("target/xtask/secrets/m2-prod/api_token"),
                "{host_file}"
            );
        }
    }
}
