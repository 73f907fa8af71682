//! What every command is made of: its [`Registration`] (name, help, flags, parsing), and what
//! it parses into: a plan ([`Command`], which [`drive`] prints or runs) or a [`Report`].

use std::collections::BTreeMap;

use anyhow::Result;
use clap::{Arg, ArgAction, ArgMatches};

use crate::ctx::{Ctx, Needs};
use crate::exec;
use crate::plan::Plan;
use crate::settings::{Config, FlagOf};
use crate::stack::Stack;
use crate::ui::Ui;
use crate::workspace::Workspace;

/// A command as the table holds it: everything the command line, `--list`, completions and
/// the Makefile know about it, and how its parsed arguments become what runs.
pub struct Registration {
    pub name: &'static str,
    /// Its help; the first sentence is its line in `--list`.
    pub about: &'static str,
    /// A whole command line, shown under its `--help` (and run by a test with `--dry-run`).
    pub example: &'static str,
    /// The settings it takes as flags (see `settings::ALL`).
    pub settings: &'static [FlagOf],
    /// Its own arguments and flags, added to `clap::Command::new(name)` with its about and
    /// example set.
    pub arguments: fn(clap::Command) -> clap::Command,
    /// Its arguments as parsed (its settings' flags are read by the command line).
    pub parse: fn(&ArgMatches) -> Parsed,
}

/// A `--NAME` switch of a command.
pub fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// `--json`, for the reports scripts read.
pub fn json_switch() -> Arg {
    switch("json", "Print JSON instead of text, for scripts.")
}

/// What a command is once its arguments are read.
#[derive(Debug)]
pub enum Parsed {
    Plan(Box<dyn Command>),
    Report(Box<dyn Report>),
}

/// What the engine said in preflight that a plan depends on; empty in a dry run (unknown).
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Image name → whether it is in the engine's store.
    pub images: BTreeMap<String, bool>,
    /// The stack's Postgres major version (`PG_MAJOR` of its image), which names its volume.
    pub postgres_major: Option<String>,
}

impl Live {
    /// The preflight of compose commands: the daemon answers, compose is there, and which of
    /// `images` the engine has.
    pub fn compose_and_images(ctx: &Ctx, images: &[String]) -> Result<Live> {
        ctx.engine().daemon_version()?;
        ctx.engine().compose()?;
        let images: BTreeMap<String, bool> = images
            .iter()
            .map(|image| (image.clone(), ctx.engine().image_exists(image)))
            .collect();
        Ok(Live {
            images,
            ..Live::default()
        })
    }

    /// The preflight of a command addressing a run's project: with `run.stack: full`, the
    /// stack's server images are there and Postgres's major version is known.
    pub fn stack(ctx: &Ctx) -> Result<Live> {
        Ok(match Stack::of(&ctx.config) {
            Stack::Embedded => Live::default(),
            Stack::Full => Live {
                postgres_major: Some(crate::stack::preflight(ctx)?),
                ..Live::default()
            },
        })
    }

    /// `None`: not asked (a dry run).
    pub fn image_present(&self, image: &str) -> Option<bool> {
        self.images.get(image).copied()
    }
}

/// A command that runs as a plan.
pub trait Command: std::fmt::Debug {
    fn needs(&self) -> Needs;

    /// Checks that must pass before anything runs (daemon up, compose present), and the
    /// engine facts the plan depends on. Not called in a dry run. Checks a user would run
    /// themselves (a tidy module, base images) are plan steps instead, so a dry run shows them.
    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        if self.needs() != Needs::Nothing {
            ctx.engine().daemon_version()?;
        }
        if self.needs() == Needs::Compose {
            ctx.engine().compose()?;
        }
        Ok(Live::default())
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan>;

    /// What to tell the user after the plan succeeded.
    fn follow_up(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }

    /// Whether the plan runs even in a dry run: a forwarded program with a dry run of its own.
    fn runs_in_dry_run(&self) -> bool {
        false
    }
}

/// Dry run: print the plan. Otherwise: preflight, plan, run, follow up.
pub fn drive(command: &dyn Command, ctx: &Ctx) -> Result<()> {
    if ctx.dry_run && !command.runs_in_dry_run() {
        crate::ui::print(&command.plan(ctx, &Live::default())?.to_string())?;
        return Ok(());
    }
    let live = command.preflight(ctx)?;
    let plan = command.plan(ctx, &live)?;
    exec::run(&plan, &ctx.ui)?;
    command.follow_up(ctx)
}

/// A command that reports rather than plans: it reads the settings as loaded (valid or not:
/// `doctor` reports a bad one) and prints; its dry run prints what it would do, as shell.
pub trait Report: std::fmt::Debug {
    fn report(&self, cx: ReportCx) -> Result<()>;
}

/// What a report gets.
pub struct ReportCx {
    pub ws: Workspace,
    pub config: Result<Config>,
    pub ui: Ui,
    pub dry_run: bool,
    /// The whole command line, for `completions`.
    pub command_line: clap::Command,
}
