//! `logs [SERVICE] [-f]`, `ps`, `stop` and `restart SERVICE`: compose commands on the project a
//! `run-* --detach` started (the same name, files and token override as run.rs gives it; with
//! `--stack full`, the stack's project). `restart core` recreates core alone from its current
//! image: the stack's other containers keep running, with their IDs and start times (to serve an
//! edit, `run-prod` again rebuilds the image, and compose recreates only core).

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Arg, ArgAction, ArgMatches};

use super::common::{Command, Live, Parsed, Registration};
use super::run::{
    compose_or_stand_in, down, major_note, project, published, ready_path, run_name, WaitReady,
};
use crate::ctx::{Ctx, Needs};
use crate::docker::compose::{self, Runs};
use crate::plan::{action, Plan};
use crate::settings::FlagOf;
use crate::stack::{Server, Stack, WaitHealthy, PLUGINS, SERVERS};
use crate::target::Target;

pub const LOGS: Registration = Registration {
    name: "logs",
    about: "Show the logs of a run's containers, or of one service (`-f` follows them).",
    example: "cargo xtask logs postgres --stack full -f",
    settings: &[FlagOf::Stack],
    arguments: |command| {
        command.args([
            what_arg(false),
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
    example: "cargo xtask ps --stack full",
    settings: &[FlagOf::Stack],
    arguments: |command| command.arg(target_arg()),
    parse: |matches| parse(matches, Verb::Ps),
};

pub const STOP: Registration = Registration {
    name: "stop",
    about: "Stop a run (one started with --detach, say) and remove its containers and network; volumes stay.",
    example: "cargo xtask stop dev",
    settings: &[FlagOf::Stack],
    arguments: |command| command.arg(target_arg()),
    parse: |matches| parse(matches, Verb::Stop),
};

pub const RESTART: Registration = Registration {
    name: "restart",
    about: "Restart one service of a running run: core or, with --stack full, postgres, s3, nats or thumbnailer; the others keep running untouched. Says when it is ready again.",
    example: "cargo xtask restart core --stack full",
    settings: &[FlagOf::Stack],
    arguments: |command| command.arg(what_arg(true)),
    parse: |matches| parse(matches, Verb::Restart),
};

/// The services a run has: core, and with the stack its servers, the migrations and the plugins.
const SERVICES: [&str; 6] = ["core", "postgres", "s3", "nats", "migrate", "thumbnailer"];

/// `[TARGET]`: which run's project `ps` and `stop` address.
fn target_arg() -> Arg {
    Arg::new("what")
        .value_name("TARGET")
        .value_parser(["prod", "dev"])
        .hide_possible_values(true)
        .help("The project: prod (run-prod, the default) or dev (run-dev).")
}

/// `[TARGET] [SERVICE]` (`SERVICE` required for `restart`), told apart by name.
fn what_arg(service_required: bool) -> Arg {
    let mut names = vec!["prod", "dev"];
    names.extend(SERVICES);
    Arg::new("what")
        .value_names(["TARGET", "SERVICE"])
        .num_args(if service_required { 1..=2 } else { 0..=2 })
        .required(service_required)
        .value_parser(names)
        .hide_possible_values(true)
        .help("The project, prod (the default) or dev, then a service: core, or with --stack full postgres, s3, nats, thumbnailer or migrate.")
}

fn parse(matches: &ArgMatches, verb: Verb) -> Parsed {
    Parsed::Plan(Box::new(read(matches, verb)))
}

fn read(matches: &ArgMatches, verb: Verb) -> Manage {
    let words: Vec<&str> = matches
        .get_many::<String>("what")
        .map(|w| w.map(String::as_str).collect())
        .unwrap_or_default();
    let target = match words.iter().find(|w| matches!(**w, "prod" | "dev")) {
        Some(&"dev") => Target::Dev,
        _ => Target::Prod,
    };
    let service = words
        .iter()
        .find_map(|w| SERVICES.iter().find(|s| *s == w).copied());
    Manage {
        target,
        verb,
        service,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Logs { follow: bool },
    Ps,
    Stop,
    Restart,
}

#[derive(Debug)]
pub struct Manage {
    pub target: Target,
    pub verb: Verb,
    /// For `logs` and `restart`: one service only.
    pub service: Option<&'static str>,
}

impl Command for Manage {
    fn needs(&self) -> Needs {
        Needs::Compose
    }

    /// Only `restart` recreates a container, which needs the stack's images and its Postgres
    /// volume's real name; `logs`, `ps` and `stop` work whatever images the engine has.
    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        ctx.engine().daemon_version()?;
        ctx.engine().compose()?;
        match self.verb {
            Verb::Restart => Live::stack(ctx),
            _ => Ok(Live::default()),
        }
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan> {
        plan(ctx, self, live)
    }
}

pub fn plan(ctx: &Ctx, args: &Manage, live: &Live) -> Result<Plan> {
    let compose = compose_or_stand_in(ctx);
    let project = project(ctx, args.target, live)?;
    let full = Stack::of(&ctx.config) == Stack::Full;
    if let Some(service) = args.service.filter(|s| *s != "core" && !full) {
        bail!("{service} is a service of the stack; add --stack full (or set run.stack: full, PIXIE_STACK=full)");
    }
    let mut plan = Plan {
        notes: vec![
            format!("compose: {}", compose.note()),
            format!("compose project: {}", project.name),
        ],
        ..Plan::default()
    };
    if args.verb == Verb::Restart {
        plan.notes.extend(major_note(ctx, live));
    }
    plan.push(compose::link_docker(&ctx.docker()));
    let step = |label: String, words: &[&str]| {
        compose::step(&ctx.docker(), &compose, &project, label, words)
    };
    match args.verb {
        Verb::Logs { follow } => {
            let mut words = vec!["logs"];
            if follow {
                words.push("--follow");
            }
            words.extend(args.service);
            plan.push(step(format!("the logs of {}", project.name), &words));
        }
        Verb::Ps => plan.push(step(format!("the containers of {}", project.name), &["ps"])),
        Verb::Stop => {
            for task in down(ctx, &compose, &project, args.target) {
                plan.push(task);
            }
        }
        Verb::Restart => {
            let Some(service) = args.service.filter(|_| full) else {
                bail!("restart restarts one service of the stack; add --stack full (or set run.stack: full, PIXIE_STACK=full); pixie-core alone restarts with `cargo xtask run-{} --detach` again", args.target.name());
            };
            if service == "migrate" {
                bail!("migrate is a one-shot, not a service to restart; run `cargo xtask migrate --stack full`");
            }
            let name = run_name(ctx, args.target);
            plan.push(action(
                format!("check that {} runs", project.name),
                Runs {
                    probe: project.running(&ctx.docker(), None),
                    fix: format!("nothing of {} runs; start it with `cargo xtask run-{name} --detach`", project.name),
                },
            ));
            // Recreated, not only restarted: a service picks up its image as built now
            // (`build-prod`, then `restart core`).
            plan.push(step(
                format!("recreate {service} alone"),
                &["up", "--detach", "--no-deps", "--force-recreate", service],
            ));
            let watched = SERVERS.iter().map(Server::watched).chain(PLUGINS);
            plan.push(match watched.into_iter().find(|s| s.service == service) {
                Some(watched) => action(
                    format!("wait until {service} is healthy"),
                    WaitHealthy::new(ctx, &compose, &project, &[watched], RESTART_TIMEOUT),
                ),
                None => action(
                    format!("wait for pixie-core's {}", ready_path(ctx)),
                    WaitReady {
                        ready: published(ctx, ready_path(ctx)),
                        timeout: RESTART_TIMEOUT,
                        fix: format!("see why with `cargo xtask logs {name} core`"),
                    },
                ),
            });
        }
    }
    Ok(plan)
}

/// How long a restarted service may take: a dev container compiles before it answers.
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);

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

    fn manage(target: Target, verb: Verb, service: Option<&'static str>) -> Manage {
        Manage {
            target,
            verb,
            service,
        }
    }

    #[test]
    fn logs_ps_and_stop_address_the_run_commands_project() {
        let ctx = ctx(&[("PIXIE_PROJECT", "m1")]);
        let logs = plan(&ctx, &manage(Target::Dev, Verb::Logs { follow: true }, None), &Live::default()).unwrap();
        assert_eq!(
            tail(&logs),
            format!("--project-name m1-dev --file {DEV_COMPOSE} logs --no-color --follow")
        );
        let ps = plan(&ctx, &manage(Target::Prod, Verb::Ps, None), &Live::default()).unwrap();
        assert_eq!(
            tail(&ps),
            format!("--project-name m1-prod --file {PROD_COMPOSE} ps")
        );
        let stop = plan(&ctx, &manage(Target::Prod, Verb::Stop, None), &Live::default()).unwrap();
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
            let plan = plan(&ctx, &manage(Target::Prod, verb, None), &Live::default()).unwrap();
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

    fn parsed(args: &[&'static str], verb: Verb) -> Manage {
        let registration = crate::commands::find(args[0]).unwrap();
        let command = (registration.arguments)(clap::Command::new(args[0]));
        read(&command.try_get_matches_from(args).unwrap(), verb)
    }

    #[test]
    fn a_target_and_a_service_are_told_apart_by_name() {
        let logs = parsed(&["logs", "dev", "postgres"], Verb::Logs { follow: false });
        assert_eq!(
            (logs.target, logs.service),
            (Target::Dev, Some("postgres"))
        );
        let restart = parsed(&["restart", "core"], Verb::Restart);
        assert_eq!((restart.target, restart.service), (Target::Prod, Some("core")));
    }

    #[test]
    fn on_the_stack_logs_name_one_service_and_stop_downs_the_whole_stack() {
        let ctx = ctx(&[("PIXIE_PROJECT", "m3"), ("PIXIE_STACK", "full")]);
        let logs = plan(&ctx, &manage(Target::Prod, Verb::Logs { follow: false }, Some("postgres")), &Live::default()).unwrap();
        assert!(tail(&logs).starts_with("--project-name m3-prod-stack "), "{}", tail(&logs));
        assert!(tail(&logs).ends_with("logs --no-color postgres"), "{}", tail(&logs));
        let stop = plan(&ctx, &manage(Target::Prod, Verb::Stop, None), &Live::default()).unwrap();
        assert!(tail(&stop).ends_with("down --remove-orphans"));
        // A service of the stack without the stack: one line naming the fix.
        let embedded = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        assert_eq!(
            plan(&embedded, &manage(Target::Prod, Verb::Logs { follow: false }, Some("nats")), &Live::default())
                .unwrap_err()
                .to_string(),
            "nats is a service of the stack; add --stack full (or set run.stack: full, PIXIE_STACK=full)"
        );
    }

    #[test]
    fn restart_checks_the_stack_runs_recreates_one_service_and_waits_for_it() {
        let ctx = ctx(&[("PIXIE_PROJECT", "m4"), ("PIXIE_STACK", "full")]);
        let live = Live { postgres_major: Some("15".into()), ..Live::default() };
        let core = plan(&ctx, &manage(Target::Prod, Verb::Restart, Some("core")), &live).unwrap();
        assert_eq!(
            core.labels(),
            [
                "link the chosen docker CLI for compose",
                "check that m4-prod-stack runs",
                "recreate core alone",
                "wait for pixie-core's /readyz",
            ]
        );
        let runs = core.actions::<Runs>()[0];
        assert_eq!(runs.fix, "nothing of m4-prod-stack runs; start it with `cargo xtask run-prod --stack full --detach`");
        assert!(runs.probe.args.ends_with(&["--filter=label=com.docker.compose.project=m4-prod-stack".to_string()]));
        assert!(tail(&core).ends_with("up --no-color --detach --no-deps --force-recreate core"), "{}", tail(&core));
        assert_eq!(core.actions::<WaitReady>()[0].ready, published(&ctx, "/readyz"));
        let postgres = plan(&ctx, &manage(Target::Prod, Verb::Restart, Some("postgres")), &live).unwrap();
        let waited: Vec<&str> = postgres.actions::<WaitHealthy>()[0].servers.iter().map(|s| s.service).collect();
        assert_eq!(waited, ["postgres"]);
        let plugin = plan(&ctx, &manage(Target::Prod, Verb::Restart, Some("thumbnailer")), &live).unwrap();
        assert!(tail(&plugin).ends_with("up --no-color --detach --no-deps --force-recreate thumbnailer"), "{}", tail(&plugin));
        assert_eq!(plugin.actions::<WaitHealthy>()[0].servers, PLUGINS);
        let refused = |ctx: &Ctx, service| {
            plan(ctx, &manage(Target::Prod, Verb::Restart, Some(service)), &live).unwrap_err().to_string()
        };
        assert_eq!(refused(&ctx, "migrate"), "migrate is a one-shot, not a service to restart; run `cargo xtask migrate --stack full`");
        let embedded = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        assert_eq!(
            refused(&embedded, "core"),
            "restart restarts one service of the stack; add --stack full (or set run.stack: full, PIXIE_STACK=full); pixie-core alone restarts with `cargo xtask run-prod --detach` again"
        );
    }
}
