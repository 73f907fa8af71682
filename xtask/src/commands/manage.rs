//! `logs [-f]`, `ps` and `stop`: compose commands on the project a `run-* --detach` started
//! (the same name, files and token override as run.rs gives it).

use anyhow::Result;
use clap::{Arg, ArgAction, ArgMatches};

use super::common::{Command, Live, Parsed, Registration};
use super::run::{compose_or_stand_in, down, project};
use crate::ctx::{Ctx, Needs};
use crate::docker::compose;
use crate::plan::Plan;
use crate::target::Target;

pub const LOGS: Registration = Registration {
    name: "logs",
    about: "Show the logs of a run's containers (`-f` follows them).",
    example: "cargo xtask logs dev -f",
    settings: &[],
    arguments: |command| {
        command.args([
            target_arg(),
            Arg::new("follow")
                .short('f')
                .long("follow")
                .action(ArgAction::SetTrue)
                .help("Keep printing new lines until Ctrl-C."),
        ])
    },
    parse: |matches| {
        parse(
            matches,
            Verb::Logs {
                follow: matches.get_flag("follow"),
            },
        )
    },
};

pub const PS: Registration = Registration {
    name: "ps",
    about: "List a run's containers and their state.",
    example: "cargo xtask ps",
    settings: &[],
    arguments: |command| command.arg(target_arg()),
    parse: |matches| parse(matches, Verb::Ps),
};

pub const STOP: Registration = Registration {
    name: "stop",
    about: "Stop a run (one started with --detach, say) and remove its containers and network; volumes stay.",
    example: "cargo xtask stop dev",
    settings: &[],
    arguments: |command| command.arg(target_arg()),
    parse: |matches| parse(matches, Verb::Stop),
};

/// `[TARGET]`: which run's project `logs`, `ps` and `stop` address.
fn target_arg() -> Arg {
    Arg::new("target")
        .value_name("TARGET")
        .value_parser(["prod", "dev"])
        .default_value("prod")
        .hide_default_value(true)
        .hide_possible_values(true)
        .help("The project: prod (run-prod, the default) or dev (run-dev).")
}

fn parse(matches: &ArgMatches, verb: Verb) -> Parsed {
    let target = match matches.get_one::<String>("target").map(String::as_str) {
        Some("dev") => Target::Dev,
        _ => Target::Prod,
    };
    Parsed::Plan(Box::new(Manage { target, verb }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Logs { follow: bool },
    Ps,
    Stop,
}

#[derive(Debug)]
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
    plan.push(compose::link_docker(&ctx.docker()));
    let step = |label: String, words: &[&str]| {
        compose::step(&ctx.docker(), &compose, &project, label, words)
    };
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
    use crate::docker::compose::LinkDocker;
    use crate::docker::engine::{BuildRoute, Compose};
    use crate::files::RemoveFile;
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
        assert!(stop.actions::<RemoveFile>()[0]
            .0
            .ends_with("m1-prod/api_token"));
        // Every one runs through the docker link compose v1 needs.
        for plan in [logs, ps, stop] {
            assert!(plan.steps[0].action::<LinkDocker>().is_some());
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
