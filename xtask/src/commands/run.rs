//! `run-prod` and `run-dev`: build the image (a no-change build takes about 0.1 s, so an edit is
//! never served from an old image), then compose up under a per-checkout project name and say
//! `ready on http://… in N s` once /healthz answers. In the foreground `down --remove-orphans`
//! always follows, so Ctrl-C leaves no container or network behind; `--detach` leaves the
//! project running for `logs`, `ps` and `stop` (commands/manage.rs).
//! run-prod refuses a non-loopback bind without an API token, and passes a token to compose
//! only as a file secret (compose.prod.token.yaml), never as a value.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Arg, ArgMatches};

use super::build::configured;
use super::common::{switch, Command, Live, Parsed, Registration};
use crate::ctx::{Ctx, Needs};
use crate::docker::compose::{self, Project};
use crate::docker::engine::Compose;
use crate::files::RemoveFile;
use crate::plan::{action, Action, ActionCx, Plan, Step, Task};
use crate::ready::{Ready, PROBE_INTERVAL};
use crate::secret::{TokenFrom, WriteToken};
use crate::settings::{self, FlagOf};
use crate::signals::{interrupted, Interrupted};
use crate::stack::{self, Stack};
use crate::target::Target;
use crate::workspace::PROD_TOKEN_COMPOSE;

pub use on_stack::{major_note, ready_path, run_name};

pub const PROD: Registration = Registration {
    name: "run-prod",
    about: "Build the production image (unchanged sources are a cache hit), run it with deployments/docker/compose.prod.yaml and say when /healthz answers; Ctrl-C stops and removes its containers and network. --stack full runs it on Postgres, S3 and NATS (compose.stack.yaml), each waited for, migrations first, and says when /readyz answers. A non-loopback PIXIE_BIND needs PIXIE_API_TOKEN_FILE or PIXIE_API_TOKEN.",
    example: "cargo xtask run-prod --http-port 18080",
    settings: &[FlagOf::Run, FlagOf::Stack],
    arguments: |command| command.arg(detach_arg()),
    parse: |matches| parse(Target::Prod, matches),
};

pub const DEV: Registration = Registration {
    name: "run-dev",
    about: "Build the development image, run it with deployments/docker/compose.dev.yaml and say when /healthz answers: core/ is mounted and air rebuilds and restarts the service on every saved .go file.",
    example: "cargo xtask run-dev --detach",
    settings: &[FlagOf::Run, FlagOf::Stack],
    arguments: |command| command.arg(detach_arg()),
    parse: |matches| parse(Target::Dev, matches),
};

fn detach_arg() -> Arg {
    switch(
        "detach",
        "Start in the background and return once it answers (/healthz; /readyz on the stack); then `logs`, `ps`, `stop`.",
    )
}

fn parse(target: Target, matches: &ArgMatches) -> Parsed {
    Parsed::Plan(Box::new(Run {
        target,
        detach: matches.get_flag("detach"),
    }))
}

#[derive(Debug)]
pub struct Run {
    pub target: Target,
    /// Start in the background and return once the service answers.
    pub detach: bool,
}

impl Command for Run {
    fn needs(&self) -> Needs {
        Needs::Compose
    }

    /// Compose is there (and, for the stack, its server images); the daemon and the rest are
    /// the build's first steps (`configured`).
    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        ctx.engine().compose()?;
        Live::stack(ctx)
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan> {
        plan(ctx, self.target, self.detach, live)
    }
}

/// How long a detached start may take to answer: the dev container's first start downloads
/// modules and compiles everything.
fn ready_timeout(target: Target) -> Duration {
    match target {
        Target::Prod => Duration::from_secs(60),
        Target::Dev => Duration::from_secs(600),
    }
}

/// The detected compose, or (dry run on a machine without one) the plugin as a stand-in.
pub fn compose_or_stand_in(ctx: &Ctx) -> Compose {
    ctx.engine()
        .compose()
        .cloned()
        .unwrap_or_else(|_| Compose::Plugin {
            version: "(not detected)".into(),
        })
}

/// The file run-prod copies the API token into for project `name` (0444 in a 0700 folder).
pub fn token_file(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.ws
        .path(&format!("target/xtask/secrets/{name}/api_token"))
}

/// Where the API token comes from: `PIXIE_API_TOKEN_FILE` or `PIXIE_API_TOKEN`, not both.
pub fn token_source(ctx: &Ctx) -> Result<Option<TokenFrom>> {
    match (&ctx.host.api_token_file, ctx.host.api_token_var) {
        (Some(_), true) => {
            bail!("PIXIE_API_TOKEN and PIXIE_API_TOKEN_FILE are both set; unset one of them")
        }
        (Some(file), false) => Ok(Some(TokenFrom::File(file.clone()))),
        (None, true) => Ok(Some(TokenFrom::Var("PIXIE_API_TOKEN"))),
        (None, false) => Ok(None),
    }
}

/// 127.0.0.0/8, ::1 and localhost: what only this machine reaches.
pub fn is_loopback(bind: &str) -> bool {
    let bare = bind.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `path` on the service's published HTTP port, where this machine reaches it
/// (`run.published_host`, else `run.bind`).
pub fn published(ctx: &Ctx, path: &'static str) -> Ready {
    let cfg = &ctx.config;
    let host = match cfg.text(&settings::PUBLISHED_HOST) {
        "" => cfg.text(&settings::BIND),
        host => host,
    };
    Ready::on(host, cfg.port(&settings::HTTP_PORT), path)
}

/// `target`'s compose project: files, per-checkout name, and what the files interpolate. The
/// prod project names the token override whenever a token is configured or a run left its
/// token file: compose then needs `PIXIE_API_TOKEN_HOST_FILE` on every command, `down` included.
/// `run.stack: full` is a project of its own (`…-prod-stack`) with the stack's files.
pub fn project(ctx: &Ctx, target: Target, live: &Live) -> Result<Project> {
    let mut project = base_project(ctx, target, live)?;
    let file = token_file(ctx, &project.name);
    let configured = ctx.host.api_token_var || ctx.host.api_token_file.is_some();
    if target == Target::Prod && (configured || file.exists()) {
        with_token(&mut project, &file);
    }
    Ok(project)
}

fn with_token(project: &mut Project, file: &std::path::Path) {
    project.files.push(PROD_TOKEN_COMPOSE);
    project.env.push((
        "PIXIE_API_TOKEN_HOST_FILE".into(),
        file.display().to_string(),
    ));
}

fn base_project(ctx: &Ctx, target: Target, live: &Live) -> Result<Project> {
    let cfg = &ctx.config;
    let stack = Stack::of(cfg);
    let kind = match stack {
        Stack::Embedded => target.name().to_string(),
        Stack::Full => format!("{}-stack", target.name()),
    };
    let name = ctx.ws.project_name(cfg.text(&settings::PROJECT), &kind);
    compose::check_project_name(&name)?;
    let mut project = Project {
        files: vec![target.compose_file()],
        name,
        env: vec![
            ("PIXIE_IMAGE".into(), target.image(cfg)),
            ("PIXIE_BIND".into(), cfg.text(&settings::BIND).to_string()),
            (
                "PIXIE_HTTP_PORT".into(),
                cfg.port(&settings::HTTP_PORT).to_string(),
            ),
            (
                "PIXIE_GRPC_PORT".into(),
                cfg.port(&settings::GRPC_PORT).to_string(),
            ),
        ],
    };
    if stack == Stack::Full {
        stack::add_to(&mut project, ctx, target, live.postgres_major.as_deref())?;
    }
    Ok(project)
}

pub fn plan(ctx: &Ctx, target: Target, detach: bool, live: &Live) -> Result<Plan> {
    ctx.ws.require(target.compose_file())?;
    let cfg = &ctx.config;
    let bind = cfg.text(&settings::BIND).to_string();
    let token = match target {
        Target::Prod => token_source(ctx)?,
        Target::Dev => None,
    };
    if target == Target::Prod && token.is_none() && !is_loopback(&bind) {
        bail!("PIXIE_BIND={bind} is not a loopback address and no API token is set; set PIXIE_API_TOKEN_FILE (or PIXIE_API_TOKEN), or bind to 127.0.0.1");
    }
    let compose = compose_or_stand_in(ctx);
    let mut project = base_project(ctx, target, live)?;
    let token_file = token_file(ctx, &project.name);
    if token.is_some() {
        ctx.ws.require(PROD_TOKEN_COMPOSE)?;
        with_token(&mut project, &token_file);
    }
    let mut plan = Plan {
        notes: vec![
            ctx.engine().note(),
            format!("compose: {}", compose.note()),
            format!("compose project: {}", project.name),
        ],
        ..Plan::default()
    };
    plan.notes.extend(major_note(ctx, live));
    plan.push(action(
        format!("check that the ports on {bind} are free"),
        PortsFree {
            bind: bind.clone(),
            ports: vec![
                (cfg.port(&settings::HTTP_PORT), "--http-port"),
                (cfg.port(&settings::GRPC_PORT), "--grpc-port"),
            ],
            ours: Some(project.running(&ctx.docker(), Some("core"))),
        },
    ));
    match token {
        Some(from) => plan.push(action(
            "copy the API token into a file only compose's secret mount reads",
            WriteToken {
                from,
                to: token_file.clone(),
            },
        )),
        // One a crashed run left: no token now means none in the service either.
        None if target == Target::Prod => plan.push(action(
            "remove an API token file a previous run left",
            RemoveFile(token_file.clone()),
        )),
        None => {}
    }
    plan.push(compose::link_docker(&ctx.docker()));
    // Always: BuildKit answers an unchanged tree from its cache in about 0.1 s, and an edit is
    // never served from an old image (what `compose up --build` does). The very build
    // build-* makes, with every build setting (vendoring included).
    plan.append(configured(ctx, target)?.finish(ctx)?);
    if Stack::of(cfg) == Stack::Full && target == Target::Prod {
        on_stack::build_plugins(ctx, &mut plan)?;
    }
    let ready = published(ctx, ready_path(ctx));
    let down = down(ctx, &compose, &project, target);
    if Stack::of(cfg) == Stack::Full {
        on_stack::stack_steps(ctx, &compose, &project, target, detach, ready, &mut plan)?;
        match detach {
            // A stack that did not come up is removed whole, as in the foreground.
            true => plan.on_failure.extend(down),
            false => plan.cleanup.extend(down),
        }
        return Ok(plan);
    }
    let name = target.name();
    if detach {
        plan.push(compose::step(
            &ctx.docker(),
            &compose,
            &project,
            format!("start pixie-core ({name}) in the background"),
            &["up", "--detach", "--remove-orphans"],
        ));
        wait_detached(&mut plan, ready, target, name);
        return Ok(plan);
    }
    let up = compose::step(
        &ctx.docker(),
        &compose,
        &project,
        format!("run pixie-core ({name}) on {}", ready.url()),
        &["up", "--remove-orphans"],
    )
    .announce_ready(ready);
    plan.push(with_proto_watch(ctx, target, up));
    plan.cleanup.extend(down);
    Ok(plan)
}

/// A saved .proto regenerates proto/gen on the host, where the pinned protoc is (the dev image
/// has no glibc for Debian's), and air rebuilds from it. Foreground only: the watcher lives in
/// this process.
pub(super) fn with_proto_watch(ctx: &Ctx, target: Target, step: Step) -> Step {
    match target {
        Target::Dev => step.regenerate_on_change(super::proto::watch(ctx)),
        Target::Prod => step,
    }
}

/// A detached run's wait for its readiness path and the note on what follows (run `name`, as `logs`, `ps`
/// and `stop` take it).
pub(super) fn wait_detached(plan: &mut Plan, ready: Ready, target: Target, name: &str) {
    plan.push(action(
        format!("wait for {}{}", ready.url(), ready.path),
        WaitReady {
            ready,
            timeout: ready_timeout(target),
            fix: format!(
                "see why with `cargo xtask logs {name}`; `cargo xtask stop {name}` removes it"
            ),
        },
    ));
    plan.notes.push(format!(
        "detached: `cargo xtask logs {name} -f` follows it, `ps {name}` lists it, `stop {name}` removes it"
    ));
}

/// `compose down --remove-orphans`, then the token file goes too: it lives only while the
/// project runs. What Ctrl-C, `stop` and `clean` do.
pub fn down(ctx: &Ctx, compose: &Compose, project: &Project, target: Target) -> Vec<Task> {
    let mut tasks = vec![compose::step(
        &ctx.docker(),
        compose,
        project,
        format!("remove the {} containers and network", project.name),
        &["down", "--remove-orphans"],
    )
    .into()];
    if target == Target::Prod {
        tasks.push(action(
            "remove the API token file",
            RemoveFile(token_file(ctx, &project.name)),
        ));
    }
    tasks
}

/// Fails with the fix when a port the service would publish is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortsFree {
    pub bind: String,
    /// Each port with the flag that changes it.
    pub ports: Vec<(u16, &'static str)>,
    /// A probe that prints something when this very project's core runs: the ports are its
    /// own, and a second run takes them over (compose recreates what changed).
    pub ours: Option<Step>,
}

impl Action for PortsFree {
    fn shell_line(&self) -> String {
        let list: Vec<String> = self
            .ports
            .iter()
            .map(|(p, _)| format!("{}:{p}", self.bind))
            .collect();
        let or = match &self.ours {
            Some(probe) => format!(", or {} (then they are its own)", probe.label),
            None => String::new(),
        };
        format!(
            "# (xtask) fail unless nothing listens on {}{or}",
            list.join(", ")
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        for (port, flag) in &self.ports {
            // Asked only for a taken port: a probe costs a round trip to the engine.
            if !port_free(&self.bind, *port, flag)? && !self.ours.as_ref().is_some_and(Step::prints) {
                let bind = &self.bind;
                bail!("port {port} on {bind} is already in use; stop what listens there or pick another with {flag}");
            }
        }
        Ok(())
    }
}

/// Whether `port` on `bind` is free (`false`: in use); any other reason the service could not
/// publish it is an error naming the fix.
fn port_free(bind: &str, port: u16, flag: &str) -> Result<bool> {
    use std::io::ErrorKind;
    let Ok(addr) = bind.parse::<IpAddr>() else {
        bail!("PIXIE_BIND={bind} is not an IP address; set run.bind (PIXIE_BIND) to one such as 127.0.0.1 or 0.0.0.0");
    };
    match std::net::TcpListener::bind((addr, port)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AddrInUse => Ok(false),
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => bail!(
            "cannot publish on {bind}: it is not an address of this machine; set run.bind (PIXIE_BIND) to one of its addresses, such as 127.0.0.1"
        ),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => bail!(
            "port {port} on {bind} needs privileges this user lacks; pick a port above 1023 with {flag}"
        ),
        Err(e) => bail!("cannot publish port {port} on {bind}: {e}; pick another with {flag} or another run.bind"),
    }
}

/// Waits until the service answers its probe (then prints `ready on …`); fails after
/// `timeout` with `fix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitReady {
    pub ready: Ready,
    pub timeout: Duration,
    pub fix: String,
}

impl Action for WaitReady {
    fn shell_line(&self) -> String {
        format!(
            "# (xtask) wait up to {} s until {}{} answers 200",
            self.timeout.as_secs(),
            self.ready.url(),
            self.ready.path
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        let started = Instant::now();
        while !self.ready.answers() {
            if interrupted() {
                return Err(Interrupted.into());
            }
            if started.elapsed() > self.timeout {
                bail!(
                    "pixie-core did not answer {}{} within {} s; {}",
                    self.ready.url(),
                    self.ready.path,
                    self.timeout.as_secs(),
                    self.fix
                );
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
        cx.ui.info(self.ready.message(cx.since));
        Ok(())
    }
}

mod on_stack;
#[cfg(test)]
mod stack_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::compose::LinkDocker;
    use crate::docker::engine::BuildRoute;
    use crate::files::SyncTree;
    use crate::plan::Step;
    use crate::settings::{Flags, Value};
    use crate::ui::Ui;
    use crate::workspace::{DEV_COMPOSE, PROD_COMPOSE, PROD_DOCKERFILE};

    fn v1() -> Compose {
        Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }
    }

    fn with_compose(mut ctx: Ctx, compose: Compose) -> Ctx {
        ctx.engine.as_mut().unwrap().compose = Some(Ok(compose));
        ctx
    }

    fn ctx(env: &[(&str, &str)]) -> Ctx {
        with_compose(ctx_with(BuildRoute::BuiltIn, env, Flags::new()), v1())
    }

    fn commands(plan: &Plan) -> Vec<Step> {
        plan.commands().into_iter().cloned().collect()
    }

    #[test]
    fn always_builds_first_then_runs_compose_up_that_announces_readiness() {
        for target in [Target::Prod, Target::Dev] {
            let ctx = ctx(&[]);
            let plan = plan(&ctx, target, false, &Live::default()).unwrap();
            let steps = commands(&plan);
            assert_eq!(steps.len(), 2, "{plan}");
            assert_eq!(steps[0].flag_value("--file"), Some(target.dockerfile()));
            assert_eq!(steps[0].args[0], "build");
            assert_eq!(
                steps[1].ready,
                Some(Ready {
                    host: "127.0.0.1".into(),
                    port: 8080,
                    path: "/healthz"
                })
            );
        }
        let text = plan(&ctx(&[]), Target::Prod, false, &Live::default()).unwrap().to_string();
        assert!(
            text.contains(&format!("--file {PROD_DOCKERFILE}")),
            "{text}"
        );
        assert!(
            text.contains("# (xtask) meanwhile: print `ready on http://127.0.0.1:8080` once http://127.0.0.1:8080/healthz answers 200"),
            "{text}"
        );
    }

    #[test]
    fn run_dev_in_the_foreground_regenerates_core_gen_beside_compose_up() {
        let ctx = ctx(&[]);
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        let watch = up.watch.as_deref().expect("run-dev watches proto/");
        assert_eq!(watch, &super::super::proto::watch(&ctx));
        assert_eq!(watch.dir, ctx.ws.path("proto"));
        assert_eq!(watch.extension, "proto");
        assert_eq!(
            watch.plan.as_ref().unwrap().locks[0].path,
            ctx.ws.path("target/xtask/proto.lock")
        );
        let regeneration = watch.plan.as_ref().unwrap();
        assert_eq!(
            regeneration,
            &super::super::proto::regeneration_plan(&ctx).unwrap()
        );
        assert_eq!(
            regeneration.actions::<SyncTree>(),
            [&SyncTree {
                staging: crate::fsutil::staging_path(&ctx.ws.path("proto/gen")).unwrap(),
                target: ctx.ws.path("proto/gen"),
            }]
        );
        let text = plan.to_string();
        let meanwhile = format!(
            "# (xtask) meanwhile: on every change of a .proto file under {}, regenerate proto/gen:\n\
             #   # hold {} until the cleanup below ends",
            ctx.ws.path("proto").display(),
            ctx.ws.path("target/xtask/proto.lock").display()
        );
        assert!(text.contains(&meanwhile), "{text}");
        assert!(
            text.contains(
                "\n#   protoc --version  # (xtask) fail unless it says libprotoc 3.21.12\n"
            ),
            "{text}"
        );
        assert!(text.contains("--go_out"), "{text}");
        // Not detached (nothing would watch), never prod.
        for (target, detach) in [(Target::Dev, true), (Target::Prod, false)] {
            let other = super::plan(&ctx, target, detach, &Live::default()).unwrap();
            assert!(
                commands(&other).iter().all(|s| s.watch.is_none()),
                "{other}"
            );
            assert!(!other.to_string().contains("on every change"), "{other}");
        }
    }

    #[test]
    fn run_dev_without_go_still_starts_and_its_watch_says_why() {
        let mut ctx = ctx(&[]);
        ctx.host.go = None;
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert_eq!(
            up.watch.unwrap().plan,
            Err("Go is not installed (no `go` on PATH), which is needed to install the protoc plugins; install Go 1.26 from https://go.dev/dl/".into())
        );
        assert!(
            plan.to_string()
                .contains("#   (not on this machine: Go is not installed"),
            "{plan}"
        );
    }

    #[test]
    fn port_check_comes_first_and_the_docker_link_and_the_build_checks_before_compose() {
        let ctx = ctx(&[]);
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        assert_eq!(
            plan.labels(),
            [
                "check that the ports on 127.0.0.1 are free",
                "link the chosen docker CLI for compose",
                "check that core/go.mod and go.sum are tidy",
                "check that the daemon answers",
                "check that the base images are on the engine or pullable",
                "build dev image pixie-core-dev:latest",
                "run pixie-core (dev) on http://127.0.0.1:8080",
            ]
        );
        assert_eq!(
            plan.actions::<PortsFree>(),
            [&PortsFree {
                bind: "127.0.0.1".into(),
                ports: vec![(8080, "--http-port"), (9090, "--grpc-port")],
                ours: Some(project(&ctx, Target::Dev, &Live::default()).unwrap().running(&ctx.docker(), Some("core"))),
            }]
        );
        assert_eq!(
            plan.actions::<LinkDocker>(),
            [&LinkDocker {
                cli: "/usr/bin/docker".into(),
                dir: ctx.docker().shim_dir(),
            }]
        );
        let text = plan.to_string();
        assert!(
            text.contains(
                "# (xtask) fail unless nothing listens on 127.0.0.1:8080, 127.0.0.1:9090"
            ),
            "{text}"
        );
        assert!(text.contains("ln -sfn /usr/bin/docker"), "{text}");
        assert!(text.contains("mod tidy -diff)"), "{text}");
        assert!(
            text.contains("/usr/bin/docker image inspect golang:1.26.8-alpine3.23 >/dev/null || /usr/bin/docker manifest inspect --insecure golang:1.26.8-alpine3.23 >/dev/null"),
            "{text}"
        );
    }

    #[test]
    fn compose_up_then_down_always_under_one_project() {
        let ctx = ctx(&[("PIXIE_PROJECT", "t1")]);
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        let down = plan.cleanup[0].step().unwrap();
        assert_eq!(
            up.program,
            std::path::PathBuf::from("/usr/bin/docker-compose")
        );
        assert_eq!(up.flag_value("--project-name"), Some("t1-dev"));
        assert_eq!(up.flag_value("--file"), Some(DEV_COMPOSE));
        assert!(
            up.args
                .join(" ")
                .ends_with("up --no-color --remove-orphans"),
            "{:?}",
            up.args
        );
        assert_eq!(down.flag_value("--project-name"), Some("t1-dev"));
        assert!(down
            .args
            .ends_with(&["down".to_string(), "--remove-orphans".to_string()]));
    }

    #[test]
    fn detach_starts_in_the_background_waits_for_healthz_and_leaves_it_running() {
        let ctx = ctx(&[("PIXIE_PROJECT", "t2")]);
        let plan = plan(&ctx, Target::Prod, true, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert!(
            up.args
                .join(" ")
                .ends_with("up --no-color --detach --remove-orphans"),
            "{:?}",
            up.args
        );
        assert_eq!(up.ready, None);
        assert_eq!(
            plan.actions::<WaitReady>(),
            [&WaitReady {
                ready: Ready::on("127.0.0.1", 8080, "/healthz"),
                timeout: Duration::from_secs(60),
                fix: "see why with `cargo xtask logs prod`; `cargo xtask stop prod` removes it"
                    .into(),
            }]
        );
        assert!(plan.cleanup.is_empty(), "{plan}");
    }

    #[test]
    fn compose_v1_finds_the_chosen_docker_first_on_path() {
        let ctx = ctx(&[]);
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        let path = up.env_value("PATH").unwrap().to_string();
        assert_eq!(
            path,
            format!("{}:$PATH", ctx.docker().shim_dir().display())
        );
    }

    #[test]
    fn compose_plugin_runs_through_the_chosen_cli() {
        let ctx = with_compose(
            ctx_with(BuildRoute::Buildx, &[], Flags::new()),
            Compose::Plugin {
                version: "2.29.0".into(),
            },
        );
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert_eq!(up.program, ctx.cli().path);
        assert_eq!(up.args[0], "compose");
    }

    #[test]
    fn ports_and_image_reach_compose_interpolation() {
        let flags = vec![(&settings::HTTP_PORT, Value::Port(18080))];
        let ctx = with_compose(
            ctx_with(BuildRoute::BuiltIn, &[("PIXIE_GRPC_PORT", "19090")], flags),
            v1(),
        );
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert_eq!(up.env_value("PIXIE_HTTP_PORT"), Some("18080"));
        assert_eq!(up.env_value("PIXIE_GRPC_PORT"), Some("19090"));
        assert_eq!(up.env_value("PIXIE_IMAGE"), Some("pixie-core:latest"));
        assert_eq!(up.env_value("PIXIE_BIND"), Some("127.0.0.1"));
        assert_eq!(up.env_value("PIXIE_API_TOKEN_HOST_FILE"), None);
    }

    #[test]
    fn loopback_is_127_slash_8_v6_one_and_localhost() {
        for bind in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback(bind), "{bind}");
        }
        for bind in ["0.0.0.0", "::", "192.168.1.10", "example.com", ""] {
            assert!(!is_loopback(bind), "{bind}");
        }
    }

    #[test]
    fn a_non_loopback_bind_without_a_token_is_refused_before_any_step() {
        let ctx = ctx(&[("PIXIE_BIND", "0.0.0.0")]);
        let message = plan(&ctx, Target::Prod, false, &Live::default()).unwrap_err().to_string();
        assert_eq!(message, "PIXIE_BIND=0.0.0.0 is not a loopback address and no API token is set; set PIXIE_API_TOKEN_FILE (or PIXIE_API_TOKEN), or bind to 127.0.0.1");
        // run-dev keeps its own rules (compose.dev.yaml publishes on loopback by default).
        assert!(plan(&ctx, Target::Dev, false, &Live::default()).is_ok());
        let mut both = ctx;
        both.host.api_token_var = true;
        both.host.api_token_file = Some("/t".into());
        assert_eq!(
            plan(&both, Target::Prod, false, &Live::default()).unwrap_err().to_string(),
            "PIXIE_API_TOKEN and PIXIE_API_TOKEN_FILE are both set; unset one of them"
        );
    }

    #[test]
    fn a_token_goes_to_compose_as_a_file_on_up_and_down_never_as_a_value() {
        let mut ctx = ctx(&[("PIXIE_BIND", "0.0.0.0"), ("PIXIE_PROJECT", "t3")]);
        ctx.host.api_token_file = Some("/home/me/pixie-token".into());
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let file = ctx.ws.path("target/xtask/secrets/t3-prod/api_token");
        assert_eq!(
            plan.actions::<WriteToken>(),
            [&WriteToken {
                from: TokenFrom::File("/home/me/pixie-token".into()),
                to: file.clone(),
            }]
        );
        let up = commands(&plan).pop().unwrap();
        let down = plan.cleanup[0].step().unwrap();
        for step in [&up, down] {
            assert_eq!(
                step.flag_values("--file").collect::<Vec<_>>(),
                [PROD_COMPOSE, PROD_TOKEN_COMPOSE]
            );
            assert_eq!(
                step.env_value("PIXIE_API_TOKEN_HOST_FILE"),
                Some(file.to_str().unwrap())
            );
        }
        assert_eq!(
            plan.cleanup.last(),
            Some(&action("remove the API token file", RemoveFile(file.clone())))
        );
        let text = plan.to_string();
        assert!(
            text.contains(&format!(
                "cat /home/me/pixie-token > {0} && chmod 444 {0}",
                file.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn a_token_from_the_environment_is_copied_by_name_not_by_value() {
        let mut ctx = ctx(&[]);
        ctx.host.api_token_var = true;
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        assert_eq!(
            plan.actions::<WriteToken>()[0].from,
            TokenFrom::Var("PIXIE_API_TOKEN")
        );
        assert!(
            plan.to_string()
                .contains("printf '%s\\n' \"$PIXIE_API_TOKEN\" >"),
            "{plan}"
        );
    }

    fn cx() -> ActionCx {
        ActionCx {
            ui: Ui::default(),
            since: Instant::now(),
        }
    }

    #[test]
    fn a_taken_port_is_reported_with_the_flag_to_change_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let check = PortsFree {
            bind: "127.0.0.1".into(),
            ports: vec![(port, "--http-port")],
            ours: Some(Step::new("prints nothing", "true", "/")),
        };
        let message = check.run(&cx()).unwrap_err().to_string();
        assert_eq!(message, format!("port {port} on 127.0.0.1 is already in use; stop what listens there or pick another with --http-port"));
        // Taken by this very project's core: a second run takes it over.
        let ours = PortsFree {
            ours: Some(Step::new("core runs", "echo", "/").arg("c0ffee")),
            ..check
        };
        ours.run(&cx()).unwrap();
    }

    #[test]
    fn an_address_of_no_interface_is_not_called_in_use() {
        // TEST-NET-1 (RFC 5737): never assigned to a machine.
        let check = PortsFree {
            bind: "192.0.2.1".into(),
            ports: vec![(8080, "--http-port")],
            ours: None,
        };
        let message = check.run(&cx()).unwrap_err().to_string();
        assert_eq!(message, "cannot publish on 192.0.2.1: it is not an address of this machine; set run.bind (PIXIE_BIND) to one of its addresses, such as 127.0.0.1");
        let check = PortsFree {
            bind: "localhost:1".into(),
            ports: vec![(8080, "--http-port")],
            ours: None,
        };
        let message = check.run(&cx()).unwrap_err().to_string();
        assert_eq!(message, "PIXIE_BIND=localhost:1 is not an IP address; set run.bind (PIXIE_BIND) to one such as 127.0.0.1 or 0.0.0.0");
    }

    /// A value for `spec` other than its default, as a user would set it.
    fn sample(spec: &settings::Spec) -> &'static str {
        match spec.key {
            "build.platform" => "linux/arm64",
            "build.gogc" => "200",
            "build.goflags" => "-tags=netgo",
            "build.vendor" => "true",
            "build.builder" => "remote1",
            "build.cache_from" => "type=local,src=/cache",
            "build.cache_to" => "type=inline",
            "build.netrc" => "/home/u/.netrc",
            "build.sbom_generator" => "reg/sbom-generator:1",
            "build.goproxy" => "http://goproxy.corp",
            "build.goprivate" => "corp.example/*",
            "build.gonosumdb" => "corp.example/*",
            "base_images.go" => "local/go:1",
            "base_images.runtime" => "local/runtime:1",
            "images.prod" => "pixie-core:sample",
            "images.dev" => "pixie-core-dev:sample",
            "images.thumbnailer" => "pixie-thumbnailer:sample",
            other => panic!("{other} is a build setting without a sample: add one"),
        }
    }

    /// The settings that decide what a build makes.
    fn build_settings() -> Vec<&'static settings::Spec> {
        settings::ALL
            .into_iter()
            .filter(|s| ["build.", "base_images.", "images."].iter().any(|p| s.key.starts_with(p)))
            .collect()
    }

    /// build-*'s plan and run-*'s with `spec` set (or not), on the buildx route, which takes
    /// every setting.
    fn plans(target: Target, spec: Option<&'static settings::Spec>) -> (Plan, Plan) {
        let env: Vec<(&str, &str)> = spec.map(|s| (s.env, sample(s))).into_iter().collect();
        let ctx = with_compose(
            ctx_with(BuildRoute::Buildx, &env, Flags::new()),
            Compose::Plugin {
                version: "2.29.0".into(),
            },
        );
        // run-* build core's image (build-prod's --module core).
        let core = crate::commands::build::BuildArgs {
            modules: vec!["core".into()],
            ..Default::default()
        };
        let build = crate::commands::build::plan(&ctx, target, &core).unwrap();
        (build, plan(&ctx, target, false, &Live::default()).unwrap())
    }

    /// #24: whichever command builds, every build setting reaches the build the same way.
    #[test]
    fn run_builds_with_every_build_setting_exactly_as_build_does() {
        for target in [Target::Prod, Target::Dev] {
            let (default_build, _) = plans(target, None);
            for spec in build_settings() {
                let (build, run) = plans(target, Some(spec));
                let built: Vec<_> = build.tasks();
                let ran: Vec<_> = run.tasks();
                assert!(
                    ran.windows(built.len()).any(|w| w == built.as_slice()),
                    "{} ({}): run-{}'s build differs from build-{}'s:\n{build}\n---\n{run}",
                    spec.key,
                    sample(spec),
                    target.name(),
                    target.name()
                );
                // What the setting does to the build (none: it is not a setting of this build).
                let applies = match target {
                    // The SBOM generator is a push's (build-prod --push); run-prod runs core's.
                    Target::Prod => {
                        !["build.sbom_generator", "images.dev", "images.thumbnailer"]
                            .contains(&spec.key)
                    }
                    // The dev image installs air; module resolution reaches its tidy check.
                    Target::Dev => [
                        "build.platform",
                        "build.builder",
                        "build.cache_from",
                        "build.cache_to",
                        "base_images.go",
                        "images.dev",
                        "build.netrc",
                        "build.goproxy",
                        "build.goprivate",
                        "build.gonosumdb",
                    ]
                    .contains(&spec.key),
                };
                assert_eq!(
                    built != default_build.tasks(),
                    applies,
                    "{} ({}) on build-{}:\n{build}",
                    spec.key,
                    sample(spec),
                    target.name()
                );
            }
        }
    }

    #[test]
    fn vendored_run_prod_builds_offline_from_vendor_like_build_prod() {
        let (build, run) = plans(Target::Prod, Some(&settings::VENDOR));
        for plan in [&build, &run] {
            let text = plan.to_string();
            assert!(
                text.contains("--network=none") && text.contains("GO_MOD_MODE=vendor"),
                "{text}"
            );
        }
    }
}
