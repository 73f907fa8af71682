//! The pixie workspace's task runner as a library: `main.rs` parses and dispatches, the bench
//! package (xtask/bench) and the tests build on the same modules.
//!
//! - [`cli`]: the command line; [`settings`]: every setting, declared once.
//! - [`ctx`]: the facts a plan is made from (workspace, settings, engine, host), read once.
//! - [`commands`]: one module per command, each a [`commands::Command`] turned into a
//!   [`plan::Plan`]; [`commands::drive`] prints or runs it through [`exec`].
//! - [`docker`]: engine detection and the only writers of build and compose argv.
//! - `testkit` (feature `testkit`): what tests and the bench share.

pub mod cli;
pub mod commands;
pub mod ctx;
pub mod docker;
pub mod exec;
pub mod fsutil;
pub mod plan;
pub mod ready;
pub mod secret;
pub mod settings;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod teststack;
pub mod ui;
pub mod watch;
pub mod workspace;

use std::process::ExitCode;

use anyhow::Result;

use cli::{Cli, Invocation};
use commands::{bench, build, clean, doctor, manage, proto, run, test, tidy, vendor, Command};
use ctx::{Ctx, Target};
use exec::Interrupted;
use settings::{Config, UsageError};
use ui::Ui;
use workspace::Workspace;

/// Runs what `cli` asks for; the exit code says how it went.
pub fn main(cli: Cli) -> ExitCode {
    exit_code(dispatch(cli))
}

/// 0, 1 with the one-line error, or 130 after Ctrl-C.
pub fn exit_code(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Interrupted>() => {
            ui::note("xtask: interrupted");
            ExitCode::from(130)
        }
        Err(e) => {
            ui::note(format_args!("error: {e:#}"));
            ExitCode::from(if e.is::<UsageError>() { 2 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    exec::install_interrupt_handler()?;
    match &cli.invocation {
        Invocation::List => return Ok(ui::print(&cli::list())?),
        Invocation::Completions(shell) => return cli::completions(shell),
        _ => {}
    }
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
    // A bad config is one of doctor's findings, not a reason to stop checking.
    if let Invocation::Doctor { json } = cli.invocation {
        return doctor::run(&ws, config, json);
    }
    let config = config?;
    let command: Box<dyn Command> = match cli.invocation {
        // Reports, not plans.
        Invocation::Config { json } => return commands::config::print(&ws, &config, json),
        Invocation::Doctor { .. } | Invocation::List | Invocation::Completions(_) => {
            unreachable!("handled above")
        }
        Invocation::Tidy { check } => Box::new(tidy::Tidy { check }),
        Invocation::BuildProd(args) => Box::new(build::Build {
            target: Target::Prod,
            args,
        }),
        Invocation::BuildDev => Box::new(build::Build {
            target: Target::Dev,
            args: build::BuildArgs::default(),
        }),
        Invocation::RunProd { detach } => Box::new(run::Run {
            target: Target::Prod,
            detach,
        }),
        Invocation::RunDev { detach } => Box::new(run::Run {
            target: Target::Dev,
            detach,
        }),
        Invocation::Manage { target, verb } => Box::new(manage::Manage { target, verb }),
        Invocation::Vendor { check } => Box::new(vendor::Vendor::new(check)),
        Invocation::Proto { check } => Box::new(proto::Proto::new(check)),
        Invocation::Clean { volumes, images } => Box::new(clean::Clean { volumes, images }),
        Invocation::Test => Box::new(test::Test),
        Invocation::Bench(args) => Box::new(bench::Bench { args }),
    };
    let ctx = Ctx::new(ws, config, ui, cli.dry_run, command.needs())?;
    commands::drive(command.as_ref(), &ctx)
}
