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
mod tests;
