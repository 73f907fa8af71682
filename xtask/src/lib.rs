//! The pixie workspace's task runner as a library: `main.rs` parses and hands over, the bench
//! package (xtask/bench) and the tests build on the same modules. Layers, each using only those
//! below it (docs/architecture.md; a test holds the imports to it):
//!
//! - [`cli`] and [`commands`]: the command table, one module per command, each a
//!   [`commands::Registration`] parsed into a plan or a report.
//! - [`stack`]: the compose stack (`--stack full`) the run commands share: its project, secrets,
//!   servers' health and migrations.
//! - [`ctx`]: the facts a plan is made from (workspace, settings, engine, host), read once.
//! - [`exec`]: runs plans; it only dispatches to what each step names.
//! - [`docker`]: engine detection and the only writers of build and compose argv.
//! - [`plan`]: plans as data, and the [`plan::Action`] trait that in-process work implements
//!   where it belongs ([`files`], [`toolchain`], [`secret`], [`teststack`], `docker::*`,
//!   `commands::run`).
//! - Below all: [`settings`], [`workspace`], [`host`], [`target`], [`fsutil`], [`lock`],
//!   [`signals`], [`ready`], [`ui`].
//! - `testkit` (feature `testkit`): what tests and the bench share.

pub mod cli;
pub mod commands;
pub mod ctx;
pub mod docker;
pub mod exec;
pub mod files;
pub mod fsutil;
pub mod host;
pub mod http;
pub mod lock;
pub mod plan;
pub mod png;
pub mod ready;
pub mod secret;
pub mod settings;
pub mod signals;
pub mod stack;
pub mod target;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod teststack;
pub mod toolchain;
pub mod ui;
pub mod workspace;

use std::process::ExitCode;

use anyhow::Result;

use cli::{Cli, Run};
use commands::{Parsed, ReportCx};
use ctx::Ctx;
use settings::{Config, UsageError};
use signals::Interrupted;
use ui::Ui;
use workspace::Workspace;

/// Runs what `cli` asks for; the exit code says how it went.
pub fn main(cli: Cli) -> ExitCode {
    exit_code(dispatch(cli))
}

/// 0, 1 with the one-line error, 2 for a usage error, 130 after Ctrl-C, or the exit code of a
/// child that said why itself.
pub fn exit_code(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Interrupted>() => {
            ui::note("xtask: interrupted");
            ExitCode::from(130)
        }
        Err(e) if e.is::<exec::ChildReported>() => {
            let code = e.downcast_ref::<exec::ChildReported>().map_or(1, |c| c.0);
            ExitCode::from(code)
        }
        Err(e) => {
            ui::note(format_args!("error: {e:#}"));
            ExitCode::from(if e.is::<UsageError>() { 2 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    signals::install()?;
    let parsed = match cli.run {
        Run::Overview => return Ok(ui::print(&cli::overview())?),
        Run::List { json: false } => return Ok(ui::print(&cli::list())?),
        Run::List { json: true } => return Ok(ui::print(&cli::list_json())?),
        Run::Command(parsed) => parsed,
    };
    let ws = Workspace::locate()?;
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    for warning in
        settings::unknown_variables(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
    {
        ui.warn(warning);
    }
    let config = Config::load(&ws.root, &cli.flags);
    match parsed {
        Parsed::Report(report) => report.report(ReportCx {
            ws,
            config,
            ui,
            dry_run: cli.dry_run,
            command_line: cli::command(),
        }),
        Parsed::Plan(command) => {
            let ctx = Ctx::new(ws, config?, ui, cli.dry_run, command.needs())?;
            commands::drive(command.as_ref(), &ctx)
        }
    }
}
